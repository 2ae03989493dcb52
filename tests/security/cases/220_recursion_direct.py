# expect: contained
# attack: unbounded recursion (RecursionError must not crash the worker or the host)
# outcome: retry
# error: RecursionError


def dive(n):
    return dive(n + 1) + 1


def on_track(event, settings):
    return {"escaped": dive(0) > 0}
