# expect: contained
# attack: event.model_config (the class-wide ConfigDict, shared by every invocation)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    cfg = event.model_config
    cfg["validate_assignment"] = False
    return {"escaped": True}
