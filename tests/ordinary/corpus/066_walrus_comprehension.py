def on_track(event, settings):
    items = event.properties["items"]
    expensive = [t for i in items if (t := i["qty"] * i["price"]) > 30]
    if (n := len(items)) > 1:
        label = f"{n} items"
    return {"expensive": expensive, "label": label}
