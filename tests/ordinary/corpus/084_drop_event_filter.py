from functions_sdk import DropEvent


def on_track(event, settings):
    if event.properties.get("plan") == "internal":
        raise DropEvent("internal traffic")
    return {"kept": event.event}
