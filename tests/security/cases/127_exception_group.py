# expect: contained
# attack: BaseExceptionGroup / ExceptionGroup names (except* type confusion, CVE-2025-22153)
# outcome: rejected
# error: NameError


def on_track(event, settings):
    raise BaseExceptionGroup("x", [ValueError("y")])
