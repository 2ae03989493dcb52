# expect: invalid
# attack: global __builtins__ / __name__ rebinding inside a function
# line: 7


def on_track(event, settings):
    global __name__
    __name__ = "functions_sdk.events"
    return {"escaped": True}
