# expect: contained
# attack: TrackEvent.model_validate.__func__ / __self__ via getattr (bound classmethod internals)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import TrackEvent


def on_track(event, settings):
    func = getattr(TrackEvent.model_validate, "__func__")
    return {"escaped": True, "g": sorted(getattr(func, "__globals__"))[:5]}
