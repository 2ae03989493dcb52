# expect: invalid
# attack: traversal inside a nested f-string format spec: f"{x:{y.__class__}}"
# line: 7


def on_track(event, settings):
    return f"{event:{settings.__class__}}"
