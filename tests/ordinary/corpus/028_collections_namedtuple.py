from collections import namedtuple

Pair = namedtuple("Pair", ["key", "value"])


def on_track(event, settings):
    pairs = [Pair(k, v) for k, v in sorted(event.properties.items()) if isinstance(v, str)]
    first = pairs[0]
    return {"keys": [p.key for p in pairs], "first": first._asdict(), "rep": first._replace(value="z").value}
