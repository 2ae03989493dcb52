# expect: contained
# attack: setattr()/delattr() on a module facade and on an exported function object
# outcome: rejected
# error: SandboxAccessError
import json


def on_track(event, settings):
    setattr(json, "loads", len)
    return {"escaped": True}
