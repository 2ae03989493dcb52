# expect: contained
# attack: re._compile / re._cache / re.sre_compile internals
# outcome: rejected
# error: SandboxAccessError
import re


def on_track(event, settings):
    return {"escaped": True, "c": repr(re._compile("a", 0))}
