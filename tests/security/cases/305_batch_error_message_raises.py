# expect: contained
# attack: on_batch returns SDK errors whose message property raises, or returns a non-str, when the worker reads it
# outcome: rejected
# batch: 3
from functions_sdk import ValidationError


class Boom(ValidationError):
    def _get(self):
        raise KeyError("boom")

    def _set(self, value):
        pass

    message = property(_get, _set)


class Odd(ValidationError):
    def _get(self):
        return ["not", "text"]

    def _set(self, value):
        pass

    message = property(_get, _set)


def on_batch(events, settings):
    return [Boom("a"), Odd("b"), Boom("c")][: len(events)]


def on_track(event, settings):
    raise Boom("a")
