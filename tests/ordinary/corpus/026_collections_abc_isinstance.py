from collections.abc import Iterable, Mapping, Sequence


def flatten(value, prefix=""):
    out = {}
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = value
    return out


def on_track(event, settings):
    return {"flat": flatten(dict(event.properties)), "iter": isinstance("x", Iterable)}
