# expect: contained
# attack: type("X", (TrackEvent,), {...}) three-argument form
# outcome: rejected
# error: NameError
from functions_sdk import TrackEvent


def on_track(event, settings):
    cls = type("X", (TrackEvent,), {"__module__": "functions_sdk.events"})
    return {"escaped": True, "c": repr(cls)}
