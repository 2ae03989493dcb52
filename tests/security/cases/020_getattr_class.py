# expect: contained
# attack: getattr(event, "__class__") through the getattr builtin
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    cls = getattr(event, "__class__")
    return {"escaped": True, "cls": repr(cls)}
