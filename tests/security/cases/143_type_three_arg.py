# expect: contained
# attack: type("X", (TrackEvent,), {...}) three-argument form (type() is one-argument only)
# outcome: rejected
# error: TypeError
from functions_sdk import TrackEvent


def on_track(event, settings):
    cls = type("X", (TrackEvent,), {"__module__": "functions_sdk.events"})
    return {"escaped": True, "c": repr(cls)}
