from typing import TypedDict


class Payload(TypedDict, total=False):
    id: str
    amount: float


def on_track(event, settings):
    p = Payload(id=event.properties["order_id"], amount=event.properties["total"])
    p2: Payload = {"id": "x"}
    return {"p": p, "p2": p2, "is_dict": isinstance(p, dict)}
