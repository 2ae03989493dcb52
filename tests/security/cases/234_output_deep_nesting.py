# expect: contained
# attack: return a deeply nested result (10**4 levels): recursion in the serializer
# outcome: rejected
# error: ResultError


def on_track(event, settings):
    value = []
    for _ in range(10 ** 4):
        value = [value]
    return value
