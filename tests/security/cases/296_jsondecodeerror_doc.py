# expect: contained
# attack: JSONDecodeError.doc/msg/pos must only ever hold the author's own input
import json


def on_track(event, settings):
    try:
        json.loads("{bad json")
    except json.JSONDecodeError as e:
        return {"escaped": e.doc != "{bad json", "pos": e.pos, "msg": e.msg}
    return {"escaped": False}
