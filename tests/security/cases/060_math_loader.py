# expect: contained
# attack: math.__loader__ / math.__spec__ via getattr (module metadata -> importlib)
# outcome: rejected
# error: SandboxAccessError
import math


def on_track(event, settings):
    loader = getattr(math, "__loader__")
    return {"escaped": True, "l": repr(loader)}
