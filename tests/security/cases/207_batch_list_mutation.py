# expect: contained
# attack: on_batch mutates the runtime's own events list (clear / append) to desynchronise results from events
# batch: 3
# outcome: rejected


def on_batch(events, settings):
    events.clear()
    return []


def on_track(event, settings):
    return {"escaped": False}
