# expect: contained
# attack: TrackEvent.model_config = ... / TrackEvent.x = ... (shared SDK class poisoning)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import TrackEvent


def on_track(event, settings):
    TrackEvent.model_config = {"extra": "forbid"}
    return {"escaped": True}
