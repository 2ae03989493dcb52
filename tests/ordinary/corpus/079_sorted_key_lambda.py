def on_track(event, settings):
    items = event.properties["items"]
    by_price = sorted(items, key=lambda i: (-i["price"], i["sku"]))
    return {"order": [i["sku"] for i in by_price], "max": max(items, key=lambda i: i["qty"])["sku"]}
