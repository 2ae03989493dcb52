# expect: contained
# attack: StopIteration.value / e.args carrying a generator object, then gi_frame on it
# outcome: rejected
# error: SandboxAccessError


def inner():
    yield 1


def outer():
    g = inner()
    return g
    yield


def on_track(event, settings):
    try:
        next(outer())
    except StopIteration as stop:
        g = stop.value
        return {"escaped": True, "f": repr(getattr(g, "gi_frame"))}
    return {"escaped": False}
