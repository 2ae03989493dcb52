# expect: contained
# attack: uuid.UUID.hex.fget / .fields.fget (unbound Python getters doing self.int) applied to host objects
import uuid

from functions_sdk import fetch


def on_track(event, settings):
    hits = []
    for getter in [uuid.UUID.hex.fget, uuid.UUID.bytes.fget, uuid.UUID.fields.fget]:
        for target in [fetch, settings, event]:
            try:
                hits.append(repr(getter(target))[:60])
            except Exception:
                pass
    return {"escaped": len(hits) > 0, "hits": hits}
