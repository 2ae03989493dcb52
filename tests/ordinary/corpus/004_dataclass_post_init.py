from dataclasses import dataclass, field


@dataclass
class LineItem:
    sku: str
    qty: int
    price: float
    total: float = field(init=False)

    def __post_init__(self):
        self.total = round(self.qty * self.price, 2)


def on_track(event, settings):
    items = [LineItem(**item) for item in event.properties["items"]]
    return [{"sku": i.sku, "total": i.total} for i in items]
