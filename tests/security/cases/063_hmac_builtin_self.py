# expect: contained
# attack: hmac.compare_digest.__self__ (a builtin's __self__ is its module: _operator)
# outcome: rejected
# error: SandboxAccessError
import hmac


def on_track(event, settings):
    mod = getattr(hmac.compare_digest, "__self__")
    return {"escaped": True, "m": repr(mod)}
