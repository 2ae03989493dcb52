# expect: contained
# attack: format(obj, spec) / nested f-string specs with traversal syntax in the spec


def on_track(event, settings):
    out = []
    for spec in ["{0.__class__}", "!r", "0.__globals__"]:
        try:
            out.append(format(event, spec))
        except (TypeError, ValueError):
            out.append(None)
    width = "{0.__class__}"
    try:
        out.append(f"{settings:{width}}")
    except (TypeError, ValueError):
        out.append(None)
    return {"escaped": any(v is not None and "class" in v for v in out)}
