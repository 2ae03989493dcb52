# expect: invalid
# attack: *args / **kwargs named like guards (def f(*_apply_, **_print_))
# line: 6


def f(*_apply_, **_print_):
    return _apply_


def on_track(event, settings):
    return f(1)
