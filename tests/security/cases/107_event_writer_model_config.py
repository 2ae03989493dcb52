# expect: contained
# attack: event.model_config = {...} / event.model_fields = {...} through the event writer
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    event.model_config = {"validate_assignment": False}
    return {"escaped": True}
