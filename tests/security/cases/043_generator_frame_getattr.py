# expect: contained
# attack: getattr(gen, "gi_frame") / "gi_code" / "gi_yieldfrom" with computed names
# outcome: rejected
# error: SandboxAccessError


def gen():
    yield 1


def on_track(event, settings):
    g = gen()
    next(g)
    frame = getattr(g, "gi_" + "frame")
    return {"escaped": True, "back": repr(getattr(frame, "f_" + "back"))}
