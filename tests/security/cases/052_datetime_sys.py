# expect: contained
# attack: datetime.sys / datetime.datetime.__module__ -> sys.modules
# outcome: rejected
# error: SandboxAccessError
import datetime


def on_track(event, settings):
    sys = getattr(datetime, "sys")
    return {"escaped": True, "os": repr(sys.modules["os"])}
