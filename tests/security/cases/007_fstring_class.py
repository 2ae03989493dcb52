# expect: invalid
# attack: attribute walk hidden in an f-string replacement field {x.__class__.__mro__}
# line: 7


def on_track(event, settings):
    return f"{event.__class__.__mro__}"
