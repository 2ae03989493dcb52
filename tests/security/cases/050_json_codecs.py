# expect: contained
# attack: json.codecs -> codecs module -> builtins / sys
# outcome: rejected
# error: SandboxAccessError
import json


def on_track(event, settings):
    codecs = json.codecs
    return {"escaped": True, "m": repr(codecs)}
