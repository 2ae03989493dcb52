# expect: contained
# attack: json.dumps of a 10**5-deep nested structure (C recursion in the encoder)
# outcome: retry
# error: RecursionError
import json


def on_track(event, settings):
    nested = {}
    for _ in range(10 ** 5):
        nested = {"k": nested}
    return {"escaped": len(json.dumps(nested)) > 0}
