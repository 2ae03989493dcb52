# expect: invalid
# attack: rebinding RestrictedPython's print machinery (_print, _print_, printed)
# line: 4
_print = None


def on_track(event, settings):
    return {"escaped": True}
