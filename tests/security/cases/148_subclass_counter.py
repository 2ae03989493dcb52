# expect: contained
# attack: class X(collections.Counter) (a Python-level dict subclass with unbound helpers)
# outcome: rejected
# error: TypeError
import collections


class Tally(collections.Counter):
    pass


def on_track(event, settings):
    return {"escaped": True, "t": Tally("abc")}
