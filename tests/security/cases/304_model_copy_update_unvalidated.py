# expect: contained
# attack: event.model_copy(update=...) writes fields without validation (a list as userId, a non-str key) into an event that is then forwarded
# error: none
# outcome: delivered
def on_track(event, settings):
    try:
        copy = event.model_copy(update={"userId": ["not", "an", "id"], "type": "alias"})
    except Exception as exc:
        return {"escaped": False, "refused": str(exc)[:200]}
    return {"escaped": copy.userId == ["not", "an", "id"] or copy.type != "track"}
