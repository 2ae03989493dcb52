# expect: contained
# attack: class X(Settings) to reach Settings internals (secret_values, _values)
# outcome: rejected
# error: TypeError
from functions_sdk import Settings


class Peek(Settings):
    def all(self):
        return self._values


def on_track(event, settings):
    return {"escaped": True, "v": Peek(settings).all()}
