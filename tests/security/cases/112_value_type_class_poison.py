# expect: contained
# attack: setattr on builtin/value classes exposed to handlers (dict.get, datetime.datetime.now)
import datetime


def on_track(event, settings):
    hits = []
    for cls, name in [(dict, "get"), (datetime.datetime, "now"), (str, "upper"), (object, "x")]:
        try:
            setattr(cls, name, len)
            hits.append(name)
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
