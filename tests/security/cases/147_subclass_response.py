# expect: contained
# attack: class X(Response) to forge a fetch response / reach http internals
# outcome: rejected
# error: TypeError
from functions_sdk import Response


class Forged(Response):
    pass


def on_track(event, settings):
    return {"escaped": True, "r": repr(Forged)}
