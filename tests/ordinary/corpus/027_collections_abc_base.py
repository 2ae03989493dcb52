from collections.abc import Mapping


class Headers(Mapping):
    def __init__(self, raw):
        self._raw = {k.lower(): v for k, v in raw.items()}

    def __getitem__(self, key):
        return self._raw[key.lower()]

    def __len__(self):
        return len(self._raw)

    def __iter__(self):
        return iter(self._raw)


def on_track(event, settings):
    h = Headers({"Content-Type": "json", "X-Id": "1"})
    return {"ct": h["CONTENT-TYPE"], "get": h.get("nope", "d"), "keys": sorted(h.keys()),
            "in": "x-id" in h, "len": len(h), "dict": dict(h)}
