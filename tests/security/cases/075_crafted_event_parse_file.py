# expect: contained
# attack: a crafted incoming event with extra keys "parse_file"/"model_config" to shadow model methods
# outcome: delivered
# error: none
# event: {"type": "track", "event": "x", "userId": "u", "parse_file": "/etc/passwd", "model_config": {}, "model_fields": {}, "copy": 1}


def on_track(event, settings):
    hits = []
    for name in ["parse_file", "model_config", "model_fields", "copy"]:
        value = getattr(event, name, None)
        if value is not None and not isinstance(value, str | dict | int):
            hits.append(name)
    try:
        event.parse_file("/etc/passwd")
        hits.append("parse_file called")
    except Exception as exc:
        doc = getattr(exc, "doc", "")
        if doc:
            hits.append(doc[:80])
    return {"escaped": len(hits) > 0, "hits": hits}
