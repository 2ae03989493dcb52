# expect: contained
# attack: CPU bomb: while True: pass
# outcome: retry
# error: TimeoutError


def on_track(event, settings):
    while True:
        pass
