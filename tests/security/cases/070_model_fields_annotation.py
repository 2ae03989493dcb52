# expect: contained
# attack: TrackEvent.model_fields["event"].annotation / .metadata (pydantic internals)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import TrackEvent


def on_track(event, settings):
    field = TrackEvent.model_fields["event"]
    return {"escaped": True, "a": repr(field.annotation), "m": repr(field.metadata)}
