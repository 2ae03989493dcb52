# expect: invalid
# attack: __builtins__["len"] = ... / global __builtins__ to poison builtins for later code
# line: 4
global __builtins__


def on_track(event, settings):
    __builtins__["len"] = lambda x: 0
    return {"escaped": True}
