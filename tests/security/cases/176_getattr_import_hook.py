# expect: contained
# attack: reach the guarded __import__ / builtins through getattr on facades and functions
# outcome: rejected
# error: SandboxAccessError
import json


def on_track(event, settings):
    imp = getattr(json, "__import__", None) or getattr(json.dumps, "__builtins__")
    return {"escaped": True, "v": repr(imp)}
