# expect: invalid
# attack: import json as _getattr_ / from x import y as _write_
# line: 4
import json as _getattr_


def on_track(event, settings):
    return {"escaped": True}
