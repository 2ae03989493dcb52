# expect: contained
# attack: NotImplemented.__reduce__() / __class__ (singletons whose type leads to builtins)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    reduce = getattr(NotImplemented, "__reduce__")
    return {"escaped": True, "r": repr(reduce())}
