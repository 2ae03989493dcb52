# expect: contained
# attack: BaseEvent.model_validate / model_validate(context=...) / strict to get host objects back
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import BaseEvent, fetch


def on_track(event, settings):
    ev = BaseEvent.model_validate(
        {"type": "track", "userId": "u", "context": {"fn": fetch}}, context={"x": fetch}
    )
    hits = []
    for name in ["model_config", "parse_raw", "parse_obj", "construct", "copy", "json", "schema"]:
        try:
            getattr(ev, name)
            hits.append(name)
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
