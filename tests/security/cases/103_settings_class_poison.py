# expect: contained
# attack: Settings.get_str = ... / setattr(Settings, ...) to hook every later invocation's settings
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import Settings


def spy(self, name, default=None):
    return "hooked"


def on_track(event, settings):
    setattr(Settings, "get_str", spy)
    return {"escaped": True}
