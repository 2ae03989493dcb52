# expect: contained
# attack: unbound collections.Counter.copy(C) runs `self.__class__(self)` unguarded -> the `type` builtin
# outcome: delivered
# error: none
import collections


def on_track(event, settings):
    got = None
    try:
        got = collections.Counter.copy(int)
    except Exception:
        return {"escaped": False}
    is_type = callable(got) and got(1) is int and got(event) is not None
    return {"escaped": is_type, "got": repr(got)}
