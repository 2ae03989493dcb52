# expect: contained
# attack: classmethod objects wrapping host callables: .__func__, .__self__, __get__(None, type)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import TrackEvent


def on_track(event, settings):
    cm = classmethod(TrackEvent.model_validate)
    bound = getattr(cm, "__get__")(None, TrackEvent)
    return {"escaped": True, "b": repr(bound)}
