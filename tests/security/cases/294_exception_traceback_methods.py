# expect: contained
# attack: e.with_traceback / add_note / __notes__ / __suppress_context__ to reach tracebacks
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    try:
        1 / 0
    except ZeroDivisionError as e:
        return {"escaped": True, "tb": repr(getattr(e.with_traceback(None), "__traceback__"))}
    return {"escaped": False}
