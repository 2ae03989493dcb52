# expect: contained
# attack: unbound Counter.update/subtract write items into read-only host mappings (settings)
# outcome: rejected
# error: SandboxAccessError
import collections


def on_track(event, settings):
    hits = []
    for method in [collections.Counter.update, collections.Counter.subtract]:
        try:
            method(settings, ["url"])
            hits.append("wrote settings")
        except Exception:
            pass
    return {"escaped": len(hits) > 0 or settings.get("url") != "https://hooks.example.com/in"}
