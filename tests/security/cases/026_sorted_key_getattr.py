# expect: contained
# attack: sorted()/min() with a key that reads special attributes of host objects
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch, logger


def on_track(event, settings):
    def key(obj):
        return str(getattr(obj, "__module__"))

    ordered = sorted([fetch, logger, settings], key=key)
    return {"escaped": True, "first": repr(min(ordered, key=key))}
