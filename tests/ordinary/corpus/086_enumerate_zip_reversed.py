def on_track(event, settings):
    skus = [i["sku"] for i in event.properties["items"]]
    qtys = [i["qty"] for i in event.properties["items"]]
    return {"idx": list(enumerate(skus, start=1)), "zip": dict(zip(skus, qtys)),
            "rev": list(reversed(skus)), "divmod": divmod(17, 5)}
