# expect: invalid
# attack: except Exception as _write_ / class _getiter_ / def _apply_ rebinding guards locally
# line: 9


def on_track(event, settings):
    try:
        raise ValueError("x")
    except ValueError as _write_:
        return {"escaped": True}
