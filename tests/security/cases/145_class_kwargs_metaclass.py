# expect: contained
# attack: class X(**{"metaclass": M}) hides the metaclass keyword from the compile-time check
# outcome: delivered
# error: none


def meta(name, bases, ns):
    return "hijacked"


class X(**{"metaclass": meta}):
    pass


def on_track(event, settings):
    return {"escaped": X == "hijacked"}
