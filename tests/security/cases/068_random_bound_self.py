# expect: contained
# attack: random.choice.__self__ -> the Random instance -> random module -> os / _os
# outcome: rejected
# error: SandboxAccessError
import random


def on_track(event, settings):
    inst = getattr(random.choice, "__self__")
    return {"escaped": True, "state": repr(inst.getstate())[:50]}
