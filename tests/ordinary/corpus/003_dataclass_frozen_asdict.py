from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Money:
    amount: float
    currency: str


def on_track(event, settings):
    price = Money(event.properties["total"], event.properties["currency"])
    doubled = replace(price, amount=price.amount * 2)
    try:
        price.amount = 1.0
        frozen = False
    except Exception as exc:
        frozen = type(exc).__name__
    return {"price": asdict(price), "doubled": asdict(doubled), "frozen": frozen}
