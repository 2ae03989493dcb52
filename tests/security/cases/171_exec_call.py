# expect: invalid
# attack: exec("...") by name
# line: 7


def on_track(event, settings):
    exec("import os")
    return None
