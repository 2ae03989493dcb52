# expect: invalid
# attack: "".__class__.__mro__[-1] to reach object, then its subclasses
# line: 7


def on_track(event, settings):
    base = "".__class__.__mro__[-1]
    return [c.__name__ for c in base.__subclasses__()]
