# expect: contained
# attack: on_batch returns SDK errors whose message property raises, or returns a non-str, when the worker reads it
# error: Sly
# outcome: rejected
# batch: 3
from functions_sdk import ValidationError


class Sly(ValidationError):
    def _get(self):
        if self.args and self.args[0] == "raise":
            raise KeyError("boom")
        return ["not", "text"]

    def _set(self, value):
        pass

    message = property(_get, _set)


def on_batch(events, settings):
    return [Sly("raise"), Sly("odd"), Sly("raise")][: len(events)]


def on_track(event, settings):
    raise Sly("raise")
