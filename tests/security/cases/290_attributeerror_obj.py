# expect: contained
# attack: AttributeError.obj / .name (CVE-2024-47532: the error hands back the guarded object)
# outcome: rejected
# error: SandboxAccessError
import json


def on_track(event, settings):
    try:
        json.codecs
    except AttributeError as e:
        return {"escaped": True, "obj": repr(e.obj), "name": e.name}
    return {"escaped": False}
