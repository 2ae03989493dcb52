# expect: contained
# attack: base64.binascii / base64.struct / base64.re module attributes
# outcome: rejected
# error: SandboxAccessError
import base64


def on_track(event, settings):
    return {"escaped": True, "m": repr(base64.binascii)}
