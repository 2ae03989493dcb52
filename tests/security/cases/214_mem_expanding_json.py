# expect: contained
# attack: json.loads of an 8 MB document / deeply nested JSON (parser memory and recursion)
# outcome: delivered
# error: none
import json


def on_track(event, settings):
    hits = []
    for doc in ["[" * 100000 + "]" * 100000, "[" + "1," * (5 * 1024 * 1024) + "1]"]:
        try:
            hits.append(len(json.loads(doc)))
        except (ValueError, RecursionError):
            pass
    return {"escaped": False, "parsed": hits}
