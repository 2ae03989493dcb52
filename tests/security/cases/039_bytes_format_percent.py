# expect: contained
# attack: bytes %-formatting and bytes.format lookups on host objects


def on_track(event, settings):
    out = []
    try:
        out.append(b"%(x)s" % {b"x": b"1"})
    except (TypeError, KeyError, ValueError):
        out.append(b"")
    try:
        fmt = getattr(b"{0.__class__}", "format")
        out.append(fmt(event))
    except AttributeError:
        out.append(b"")
    return {"escaped": any(b"class" in v for v in out)}
