# expect: contained
# attack: return a 10**6-element list
# outcome: rejected
# error: ResultError


def on_track(event, settings):
    return list(range(10 ** 6))
