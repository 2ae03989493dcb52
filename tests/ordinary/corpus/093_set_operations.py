def on_track(event, settings):
    wanted = {"A-1", "C-3"}
    have = {i["sku"] for i in event.properties["items"]}
    return {"missing": sorted(wanted - have), "common": sorted(wanted & have),
            "frozen": sorted(frozenset(have) | {"Z"}), "sub": {"A-1"} <= have}
