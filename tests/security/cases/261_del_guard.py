# expect: invalid
# attack: del _getattr_ / del of the runtime's globals so lookups fall back to builtins
# line: 7


def on_track(event, settings):
    del _getiter_
    return {"escaped": True}
