# expect: contained
# attack: on_batch returns the runtime's events list itself, with extra entries appended to it
# outcome: rejected
# error: ResultError
# batch: 2


def on_batch(events, settings):
    events.append({"escaped": True})
    return events


def on_track(event, settings):
    return {"escaped": False}
