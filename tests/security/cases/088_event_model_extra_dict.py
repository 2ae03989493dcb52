# expect: contained
# attack: event.model_extra (the live extras dict, readable since issue 13) to plant a "parse_raw" key after validation
# outcome: delivered
# error: none
# event: {"type": "track", "event": "x", "userId": "u", "model_extra": 1}


def on_track(event, settings):
    extra = event.model_extra
    hits = []
    if isinstance(extra, dict):
        extra["parse_raw"] = 1
        try:
            method = event.parse_raw
            hits.append(repr(method))
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
