# expect: contained
# attack: "{e.__class__}".format_map({...}) (CVE-2023-41039 class)
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    return {"escaped": True, "v": "{e.__class__.__init__.__globals__}".format_map({"e": event})}
