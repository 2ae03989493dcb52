# expect: invalid
# attack: module-level assignment to the guard names (_getattr_, _write_, _getiter_)
# line: 4
_write_ = lambda obj: obj  # noqa: E731
_getiter_ = iter


def on_track(event, settings):
    return {"escaped": True}
