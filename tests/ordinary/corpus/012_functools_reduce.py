import functools


def on_track(event, settings):
    items = event.properties["items"]
    total = functools.reduce(lambda acc, i: acc + i["qty"] * i["price"], items, 0.0)
    return {"total": total, "qty": functools.reduce(lambda a, b: a + b, [i["qty"] for i in items])}
