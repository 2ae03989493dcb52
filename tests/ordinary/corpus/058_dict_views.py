def on_track(event, settings):
    props = event.properties
    keys = props.keys()
    other = {"plan": 1, "x": 2}.keys()
    return {"common": sorted(keys & other), "disjoint": keys.isdisjoint({"zzz"}),
            "union": sorted(keys | {"extra"}), "items": ("plan", "pro") in props.items(),
            "mapping": keys.mapping["plan"], "vals": len(list(props.values()))}
