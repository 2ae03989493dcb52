# expect: contained
# attack: an unknown field named like a pydantic method (parse_raw) makes the guard return the method
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import TrackEvent

PICKLE = "cbuiltins\neval\n(V__import__('os').getpid()\ntR."


def on_track(event, settings):
    ev = TrackEvent.model_validate(
        {"type": "track", "event": "x", "userId": "u", "parse_raw": 1, "model_config": 1}
    )
    got = ev.parse_raw(PICKLE.encode(), content_type="application/pickle", allow_pickle=True)
    return {"escaped": True, "pid": repr(got)}
