# expect: invalid
# attack: global _getattr_ then rebinding it from inside a function
# line: 7


def on_track(event, settings):
    global _getattr_
    _getattr_ = None
    return {"escaped": True}
