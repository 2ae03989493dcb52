# expect: contained
# attack: class X(TrackEvent) (a pydantic model class the runtime trusts as an event)
# outcome: rejected
# error: TypeError
from functions_sdk import TrackEvent


class Forged(TrackEvent):
    pass


def on_track(event, settings):
    return Forged(event="x", userId="u")
