# expect: contained
# attack: setattr(event, "_pydantic_private", ...) / event._x = ... on a pydantic model
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    setattr(event, "_x", 1)
    return {"escaped": True}
