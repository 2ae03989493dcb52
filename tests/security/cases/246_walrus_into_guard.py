# expect: invalid
# attack: walrus assignment into a guard name: (_getattr_ := getattr)
# line: 7


def on_track(event, settings):
    if (_getattr_ := (lambda obj, name: object.__getattribute__(obj, name))):
        return event.__class__
    return None
