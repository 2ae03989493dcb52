# expect: contained
# attack: getattr("", "format") and getattr(str, "format_map") with a traversal template
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    fmt = getattr("{0.__class__}", "for" + "mat")
    return {"escaped": True, "v": fmt(event)}
