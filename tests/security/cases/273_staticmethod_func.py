# expect: contained
# attack: staticmethod(fetch).__func__ / __wrapped__ unwrapping to host functions' internals
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    wrapped = staticmethod(fetch)
    inner = getattr(wrapped, "__func__")
    return {"escaped": True, "c": repr(getattr(inner, "__code__"))}
