# expect: contained
# attack: catch RecursionError at every level to keep the stack at its limit forever
# outcome: retry
# error: TimeoutError


def dive(n):
    try:
        return dive(n + 1)
    except RecursionError:
        return dive(n + 1)


def on_track(event, settings):
    return {"escaped": dive(0) is not None}
