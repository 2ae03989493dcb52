# expect: contained
# attack: a returned-not-raised SDK error from on_batch with a forged outcome attribute
# outcome: retry
# error: Quiet
from functions_sdk import RetryError


class Quiet(RetryError):
    outcome = "delivered"


def on_batch(events, settings):
    return [Quiet("pretend") for _ in events]


def on_track(event, settings):
    raise Quiet("pretend")
