# expect: contained
# attack: raise SystemExit to kill the worker loop (escapes `except Exception`)
# outcome: rejected
# error: NameError


def on_track(event, settings):
    raise SystemExit(0)
