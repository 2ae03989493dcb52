# expect: contained
# attack: import string (available since issue 13): string.Formatter traversal (CVE-2021-32807 class)
# outcome: rejected
# error: SandboxAccessError
import string


def on_track(event, settings):
    return {"escaped": True, "v": string.Formatter().format("{0.__class__}", event)}
