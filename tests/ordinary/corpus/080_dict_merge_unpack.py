DEFAULTS = {"region": "us", "retries": 3}


def on_track(event, settings):
    merged = {**DEFAULTS, **{"region": settings["region"]}}
    union = DEFAULTS | {"retries": 5}
    first, *rest = event.properties["items"]
    a, (b, c) = 1, (2, 3)
    return {"merged": merged, "union": union, "first": first["sku"], "rest": len(rest), "abc": [a, b, c]}
