class Handler:
    pass


def describe(value):
    if isinstance(value, type):
        return f"class {value.__name__}"
    return f"instance of {type(value).__name__}"


def on_track(event, settings):
    return [describe(Handler), describe(Handler()), describe(3), isinstance(int, type)]
