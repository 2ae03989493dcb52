def on_track(event, settings):
    total = 0.0
    seen = []

    def visit(item):
        nonlocal total
        total += item["qty"] * item["price"]
        seen.append(item["sku"])

    for item in event.properties["items"]:
        visit(item)
    return {"total": total, "seen": seen}
