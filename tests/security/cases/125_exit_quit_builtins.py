# expect: contained
# attack: exit()/quit()/copyright: site builtins that raise SystemExit
# outcome: rejected
# error: NameError


def on_track(event, settings):
    exit(0)
