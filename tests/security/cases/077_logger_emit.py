# expect: contained
# attack: logger._emit / logger.__class__ to write log lines without masking
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import logger


def on_track(event, settings):
    logger._emit("INFO", settings.get("api_key"), ())
    return {"escaped": True}
