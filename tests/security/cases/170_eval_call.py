# expect: invalid
# attack: eval("...") by name
# line: 7


def on_track(event, settings):
    return eval("__import__('os').environ")
