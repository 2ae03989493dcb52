# expect: contained
# attack: a slow on_batch that never returns (the deadline must cover the whole batch)
# outcome: retry
# error: TimeoutError


def on_batch(events, settings):
    while True:
        pass


def on_track(event, settings):
    while True:
        pass
