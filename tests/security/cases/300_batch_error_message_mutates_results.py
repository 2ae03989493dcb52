# expect: contained
# attack: on_batch returns an SDK error whose message property grows the returned list while the worker settles it (crashed the worker)
# error: Sneaky
# outcome: retry
# batch: 3
from functions_sdk import RetryError

RETURNED = []


class Sneaky(RetryError):
    def _get(self):
        RETURNED.append({"extra": True})
        return "sneaky"

    def _set(self, value):
        pass

    message = property(_get, _set)


def on_batch(events, settings):
    for _ in events:
        RETURNED.append(Sneaky("x"))
    return RETURNED


def on_track(event, settings):
    return {"escaped": False}
