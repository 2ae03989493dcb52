# expect: contained
# attack: UnicodeDecodeError.object / .start / .reason / .encoding attributes
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    try:
        b"\xff".decode("utf-8")
    except UnicodeDecodeError as e:
        return {"escaped": True, "o": repr(e.object)}
    return {"escaped": False}
