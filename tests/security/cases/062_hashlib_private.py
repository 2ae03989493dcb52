# expect: contained
# attack: hashlib._hashlib (OpenSSL bindings) and hashlib.__get_builtin_constructor
# outcome: rejected
# error: SandboxAccessError
import hashlib


def on_track(event, settings):
    return {"escaped": True, "m": repr(hashlib._hashlib)}
