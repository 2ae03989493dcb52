from typing import NamedTuple


class Row(NamedTuple):
    sku: str
    qty: int = 1

    def label(self):
        return f"{self.sku}x{self.qty}"


def on_track(event, settings):
    rows = [Row(i["sku"], i["qty"]) for i in event.properties["items"]]
    return {"labels": [r.label() for r in rows], "default": Row("Z").qty, "tuple": list(rows[0])}
