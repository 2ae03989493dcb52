def on_track(event, settings):
    match event.properties["plan"]:
        case "free":
            tier = 0
        case "pro" | "team":
            tier = 1
        case _:
            tier = 2
    return {"tier": tier}
