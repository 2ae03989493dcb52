# expect: invalid
# attack: lambda with a guard-named parameter: lambda _write_=(lambda x: x), /: ...
# line: 4
grab = lambda obj, _write_=(lambda x: x), /: obj  # noqa: E731


def on_track(event, settings):
    return grab(event)
