# expect: contained
# attack: property objects built in author classes around host callables (fget=fetch) then walked
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


class Holder:
    p = property(fetch)


def on_track(event, settings):
    prop = Holder.p
    return {"escaped": True, "g": repr(getattr(prop.fget, "__globals__"))}
