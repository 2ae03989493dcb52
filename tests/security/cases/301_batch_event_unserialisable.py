# expect: contained
# attack: on_batch returns events holding an author object (no JSON form): serialising them raised past the worker's handling and crashed it
# error: PydanticSerializationError
# outcome: rejected
# batch: 3
class Thing:
    pass


def on_batch(events, settings):
    for event in events:
        event.properties = {"thing": Thing()}
    return events


def on_track(event, settings):
    event.properties = {"thing": Thing()}
    return event
