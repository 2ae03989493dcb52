import copy


def on_track(event, settings):
    original = dict(event.properties)
    redacted = copy.deepcopy(original)
    for item in redacted["items"]:
        item["price"] = None
    return {"orig_price": original["items"][0]["price"], "redacted": redacted["items"][0]}
