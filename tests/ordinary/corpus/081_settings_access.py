def on_track(event, settings):
    return {"endpoint": settings.get_str("endpoint"), "missing": settings.get("nope", "dflt"),
            "keys": sorted(settings.keys()), "region": settings["region"]}
