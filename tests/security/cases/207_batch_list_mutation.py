# expect: contained
# attack: on_batch mutates the runtime's own events list (clear / append) to desynchronise results from events
# outcome: rejected
# error: ResultError
# batch: 3


def on_batch(events, settings):
    events.clear()
    return []


def on_track(event, settings):
    return {"escaped": False}
