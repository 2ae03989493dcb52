def first_over(items, limit):
    i = 0
    while i < len(items):
        if items[i]["price"] > limit:
            break
        i += 1
    else:
        return None
    return items[i]["sku"]


def on_track(event, settings):
    items = event.properties["items"]
    return {"over50": first_over(items, 50), "over100": first_over(items, 100)}
