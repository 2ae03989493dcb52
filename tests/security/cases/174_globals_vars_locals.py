# expect: contained
# attack: globals()/vars()/locals()/dir() to list and rebind the guard functions
# outcome: rejected
# error: NameError


def on_track(event, settings):
    g = globals()
    g["_getattr_"] = getattr
    return {"escaped": True, "v": sorted(vars()), "d": dir()}
