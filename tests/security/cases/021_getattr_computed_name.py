# expect: contained
# attack: getattr with a name computed at run time ("_" * 2 + "globals" + "_" * 2)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    name = "_" * 2 + "".join(["glo", "bals"]) + "_" * 2
    found = getattr(fetch, name)
    return {"escaped": True, "keys": sorted(found)[:5]}
