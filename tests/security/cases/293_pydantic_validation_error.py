# expect: contained
# attack: pydantic ValidationError.errors() / .json() / .title (input values, ctx, class refs)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    try:
        event.userId = ["not", "a", "string"]
    except ValueError as e:
        return {"escaped": True, "errors": repr(e.errors())}
    return {"escaped": False}
