def on_track(event, settings):
    line = "{} bought {count} items for {total:.2f} {cur}".format(
        event.userId, count=len(event.properties["items"]),
        total=event.properties["total"], cur=event.properties["currency"])
    return {"line": line, "pad": "{:>8}|{:<4}|{:^5}".format("r", "l", "c"),
            "idx": "{0[sku]} {1}".format(event.properties["items"][0], 7)}
