import uuid


def on_track(event, settings):
    ns = uuid.uuid5(uuid.NAMESPACE_URL, settings["endpoint"])
    key = uuid.uuid5(ns, event.messageId)
    return {"key": str(key), "hex": key.hex[:8], "version": key.version}
