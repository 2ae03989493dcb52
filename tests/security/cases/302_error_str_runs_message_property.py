# expect: contained
# attack: an SDK error wrapped in another exception: str() of the outer error runs the inner error's message property after the handler returned
# error: ValueError
# outcome: rejected
from functions_sdk import ValidationError

CALLS = []


class Loud(ValidationError):
    def _get(self):
        while True:
            CALLS.append(1)
            del CALLS[:]

    def _set(self, value):
        pass

    message = property(_get, _set)


def on_track(event, settings):
    raise ValueError(Loud("x"))
