# expect: contained
# attack: functools (available since issue 13): reduce(getattr, ...) / partial(getattr) walk special attributes
# outcome: rejected
# error: SandboxAccessError
import functools


def on_track(event, settings):
    walk = functools.partial(functools.reduce, getattr)
    return {"escaped": True, "v": repr(walk(["__class__", "__mro__"], event))}
