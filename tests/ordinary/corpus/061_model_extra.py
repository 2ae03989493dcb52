# event: {"type": "track", "event": "Clicked", "userId": "u1", "custom_field": "hello", "properties": {}}
def on_track(event, settings):
    extra = event.model_extra or {}
    return {"extra": dict(extra), "custom": extra.get("custom_field")}
