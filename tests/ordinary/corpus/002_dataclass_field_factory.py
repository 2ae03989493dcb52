from dataclasses import dataclass, field


@dataclass
class Batch:
    name: str
    rows: list = field(default_factory=list)

    def add(self, row):
        self.rows.append(row)
        return self


def on_track(event, settings):
    batch = Batch("orders")
    for item in event.properties["items"]:
        batch.add(item["sku"])
    return {"name": batch.name, "rows": batch.rows, "fresh": Batch("x").rows}
