# expect: contained
# attack: exit()/quit()/copyright: site builtins that raise SystemExit
# error: NameError


def on_track(event, settings):
    exit(0)
