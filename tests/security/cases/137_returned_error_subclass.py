# expect: contained
# attack: FunctionError subclass whose message is a property that returns a non-str / loops
# outcome: rejected
# error: Odd
from functions_sdk import ValidationError


class Odd(ValidationError):
    def __init__(self):
        super().__init__("odd")
        self.message = ["not", "a", "string"]


def on_track(event, settings):
    raise Odd()
