def on_track(event, settings):
    name = "  ada LOVELACE "
    total = event.properties["total"]
    return {"title": name.strip().title(), "fmt": f"{total:>10,.2f}|{total!r}|{event.userId!s:^12}",
            "split": "a,b,,c".split(","), "rsplit": "k=v=w".rsplit("=", 1),
            "zfill": "7".zfill(3), "pct": f"{0.256:.1%}"}
