def read(items):
    for item in items:
        yield item


def expand(items):
    for item in items:
        for _ in range(item["qty"]):
            yield item["sku"]


def on_track(event, settings):
    stream = expand(read(event.properties["items"]))
    gen_expr = (s.lower() for s in stream)
    return {"units": list(gen_expr), "any": any(i["qty"] > 1 for i in event.properties["items"])}
