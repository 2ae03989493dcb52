# expect: contained
# attack: model_validate(obj, from_attributes=True) has pydantic read attributes with plain getattr, past the guard
# error: none
# outcome: delivered
from functions_sdk import PageEvent


class Carrier:
    pass


def on_track(event, settings):
    carrier = Carrier()
    carrier.type = "page"
    carrier.userId = "u-1"
    carrier.name = "n"
    try:
        got = PageEvent.model_validate(carrier, from_attributes=True)
    except Exception as exc:
        return {"escaped": False, "refused": str(exc)[:200]}
    return {"escaped": True, "got": got.name}
