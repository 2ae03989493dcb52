# expect: invalid
# attack: __import__("os") by its name
# line: 7


def on_track(event, settings):
    return dict(__import__("os").environ)
