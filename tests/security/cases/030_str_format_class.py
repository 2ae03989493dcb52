# expect: contained
# attack: "{0.__class__.__mro__}".format(event): str.format walks attributes with the real getattr
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    return {"escaped": True, "v": "{0.__class__.__mro__}".format(event)}
