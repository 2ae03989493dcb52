# expect: contained
# attack: class X(dict) with __missing__ / keys to trick host code that isinstance-checks dicts
# outcome: rejected
# error: TypeError


class Bag(dict):
    pass


def on_track(event, settings):
    return {"escaped": True, "bag": Bag()}
