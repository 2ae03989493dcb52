# expect: contained
# attack: None / True / 0 / "" attribute walks to their types (None.__class__.__bases__)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    base = getattr(getattr(None, "__class__"), "__base__")
    return {"escaped": True, "b": repr(base)}
