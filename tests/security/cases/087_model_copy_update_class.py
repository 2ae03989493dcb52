# expect: contained
# attack: event.model_copy(update={"__class__": ...}) / model_dump(fallback=) to smuggle internals
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    copy = event.model_copy(update={"__class__": dict, "__dict__": {}, "model_config": 1})
    hits = []
    for name in ["__class__", "model_config", "parse_raw"]:
        try:
            value = getattr(copy, name)
            if not isinstance(value, int):
                hits.append(name)
        except Exception:
            pass
    dumped = event.model_dump(mode="python", fallback=lambda v: repr(v))
    return {"escaped": len(hits) > 0, "hits": hits, "keys": sorted(dumped)}
