# expect: contained
# attack: string.Formatter().get_field returns live objects (CVE-2026-76825 / rattler-read)
# outcome: rejected
# error: SandboxAccessError
import string


def on_track(event, settings):
    obj, _ = string.Formatter().get_field("0.__class__.__mro__", [event], {})
    return str(obj)
