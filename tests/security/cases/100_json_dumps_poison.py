# expect: contained
# attack: json.dumps = evil (cross-invocation / cross-tenant module poisoning, open-chat-studio finding 1)
# outcome: rejected
# error: SandboxAccessError
# runs: 2
import json


def evil(obj, **kw):
    return "poisoned"


def on_track(event, settings):
    if json.dumps({}) == "poisoned":
        return {"escaped": True}
    json.dumps = evil
    return {"escaped": True, "stage": "planted"}
