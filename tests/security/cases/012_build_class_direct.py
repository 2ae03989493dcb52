# expect: invalid
# attack: call __build_class__ directly to create a class without the runtime's class hook
# line: 12
from functions_sdk import TrackEvent


def body():
    pass


def on_track(event, settings):
    cls = __build_class__(body, "Evil", TrackEvent)
    return {"escaped": cls is not None}
