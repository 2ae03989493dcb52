# expect: contained
# attack: itertools.starmap(getattr, ...) / accumulate to chain attribute reads in C
# outcome: rejected
# error: SandboxAccessError
import itertools

from functions_sdk import fetch


def on_track(event, settings):
    chain = list(itertools.accumulate(["__globals__", "socket"], getattr, initial=fetch))
    return {"escaped": True, "n": len(chain)}
