# expect: contained
# attack: state on an author subclass of an SDK error surviving into the next invocation
# outcome: delivered
# error: none
# runs: 2
from functions_sdk import RetryError


class Memo(RetryError):
    hits = []


def on_track(event, settings):
    Memo.hits.append(1)
    return {"escaped": len(Memo.hits) > 1, "hits": len(Memo.hits)}
