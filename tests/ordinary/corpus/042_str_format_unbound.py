def on_track(event, settings):
    fmt = str.format
    parts = list(map("<{}>".format, ["a", "b"]))
    return {"x": fmt("{}:{}", 1, 2), "parts": parts, "join": "/".join(parts)}
