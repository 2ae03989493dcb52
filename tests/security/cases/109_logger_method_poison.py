# expect: contained
# attack: logger.info = ... (the SDK logger is a process-wide singleton)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import logger


def on_track(event, settings):
    logger.info = len
    return {"escaped": True}
