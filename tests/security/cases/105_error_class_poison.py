# expect: contained
# attack: RetryError.outcome = "delivered" / DropEvent.__bases__ (SDK error class poisoning)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import RetryError


def on_track(event, settings):
    RetryError.outcome = "delivered"
    return {"escaped": True}
