from functools import cmp_to_key


def by_qty_then_sku(a, b):
    if a["qty"] != b["qty"]:
        return b["qty"] - a["qty"]
    return -1 if a["sku"] < b["sku"] else 1


def on_track(event, settings):
    items = sorted(event.properties["items"], key=cmp_to_key(by_qty_then_sku))
    return [i["sku"] for i in items]
