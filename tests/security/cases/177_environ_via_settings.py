# expect: contained
# attack: ask Settings / event for the host's environment variables by name


def on_track(event, settings):
    names = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
             "FUNCTIONS_API_KEY", "PATH", "HOME"]
    found = {n: settings.get(n) for n in names if settings.get(n) is not None}
    found.update({n: event.context.get(n) for n in names if event.context and event.context.get(n)})
    return {"escaped": len(found) > 0, "found": found}
