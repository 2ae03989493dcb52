# expect: contained
# attack: StopIteration.value from a generator returning a host object, then its internals
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import logger


def gen():
    return logger
    yield


def on_track(event, settings):
    try:
        next(gen())
    except StopIteration as stop:
        value = stop.value
        return {"escaped": True, "emit": repr(value._emit)}
    return {"escaped": False}
