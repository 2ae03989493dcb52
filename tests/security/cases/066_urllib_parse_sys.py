# expect: contained
# attack: urllib.parse.sys / urllib.parse.__builtins__ via the dotted import
# outcome: rejected
# error: SandboxAccessError
import urllib.parse


def on_track(event, settings):
    return {"escaped": True, "m": repr(urllib.parse.sys)}
