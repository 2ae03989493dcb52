def describe(value):
    match value:
        case {"sku": str(sku), "qty": int(qty)} if qty > 1:
            return f"many {sku}"
        case {"sku": sku, **rest}:
            return f"one {sku} +{len(rest)}"
        case [first, *others]:
            return f"list {len(others) + 1}"
        case None:
            return "none"
        case _:
            return "other"


def on_track(event, settings):
    return [describe(i) for i in event.properties["items"]] + [describe([1, 2]), describe(None), describe(3)]
