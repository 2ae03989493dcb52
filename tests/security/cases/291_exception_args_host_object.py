# expect: contained
# attack: e.args carrying a host object (KeyError(fetch)) then walking it
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    try:
        {}[fetch]
    except KeyError as e:
        target = e.args[0]
        return {"escaped": True, "g": sorted(getattr(target, "__globals__"))}
    return {"escaped": False}
