# expect: contained
# attack: str subclass so that .format is "not a str method" (CVE-2026-77401 class)
# outcome: rejected
# error: TypeError


class Fmt(str):
    pass


def on_track(event, settings):
    return {"escaped": True, "v": Fmt("{0.__class__}").format(event)}
