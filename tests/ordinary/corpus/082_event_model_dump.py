def on_track(event, settings):
    data = event.model_dump(mode="json", exclude_none=True)
    copy = event.model_copy(update={"event": "Renamed"})
    return {"keys": sorted(k for k in data if k != "receivedAt"), "renamed": copy.event,
            "orig": event.event}
