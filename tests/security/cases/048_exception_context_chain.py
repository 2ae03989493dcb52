# expect: contained
# attack: walk __context__/__cause__ of a host-raised exception to reach host frames
# outcome: rejected
# error: SandboxAccessError
import json


def on_track(event, settings):
    try:
        json.loads("{not json")
    except ValueError as e:
        ctx = getattr(e, "__context__") or getattr(e, "__cause__")
        return {"escaped": True, "ctx": repr(ctx)}
