# expect: contained
# attack: use an inherited SDK __init__ (reached via super) to set attributes on host objects
from functions_sdk import FunctionError


class Mine(FunctionError):
    pass


def on_track(event, settings):
    init = super(Mine, Mine).__init__
    hits = []
    for target in [settings, event]:
        try:
            init(target, "owned")
            hits.append(repr(target)[:40])
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
