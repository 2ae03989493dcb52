import hashlib
import hmac
import json


def on_track(event, settings):
    body = json.dumps({"event": event.event, "user": event.userId}, sort_keys=True)
    sig = hmac.new(settings["api_key"].encode(), body.encode(), hashlib.sha256).hexdigest()
    return {"sig": sig, "ok": hmac.compare_digest(sig, sig), "md5": hashlib.md5(b"x").hexdigest()}
