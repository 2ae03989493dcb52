# expect: contained
# attack: Ellipsis / ... attribute walk (type(...) -> __subclasses__)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    cls = getattr(..., "__class__")
    return {"escaped": True, "c": repr(cls)}
