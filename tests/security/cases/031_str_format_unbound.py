# expect: contained
# attack: unbound str.format("{0.__globals__}", fn) via the class
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    fmt = str.format
    return {"escaped": True, "v": fmt("{0.__globals__[socket]}", fetch)}
