# expect: contained
# attack: let C code call getattr for us: map(getattr, objs, names)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    got = list(map(getattr, [fetch, event], ["__globals__", "__class__"]))
    return {"escaped": True, "n": len(got)}
