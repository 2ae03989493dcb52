import re

SKU = re.compile(r"(?P<family>[A-Z])-(?P<num>\d+)")


def on_track(event, settings):
    out = []
    for item in event.properties["items"]:
        m = SKU.fullmatch(item["sku"])
        out.append({"family": m.group("family"), "num": int(m["num"]), "span": list(m.span())})
    return {"out": out, "sub": SKU.sub(lambda m: m.group(1).lower(), "A-1 and B-7")}
