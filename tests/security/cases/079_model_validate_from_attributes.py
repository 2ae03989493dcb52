# expect: contained
# attack: model_validate(host_obj, from_attributes=True) makes pydantic getattr() host objects for us
from functions_sdk import TrackEvent, fetch, logger


def on_track(event, settings):
    hits = []
    for target in [fetch, logger, settings, TrackEvent]:
        try:
            got = TrackEvent.model_validate(target, from_attributes=True)
            hits.append(repr(got)[:100])
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
