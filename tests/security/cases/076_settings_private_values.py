# expect: contained
# attack: settings._values / settings._secret_names / settings.secret_values()
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    return {"escaped": True, "v": dict(settings._values)}
