# expect: contained
# attack: a non-class base with __mro_entries__ (typing aliases) resolving to a host class
# outcome: rejected
# error: TypeError
import typing


class X(typing.List[int]):
    pass


def on_track(event, settings):
    return {"escaped": True}
