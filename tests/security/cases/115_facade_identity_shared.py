# expect: contained
# attack: facades and their exports must not be writable containers (json.__dict__-style writes)
import json
import typing


def on_track(event, settings):
    hits = []
    for target in [json, typing, typing.Any, typing.List]:
        try:
            target["x"] = 1
            hits.append(repr(target))
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
