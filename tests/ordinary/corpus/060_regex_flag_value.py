import re


def on_track(event, settings):
    flags = re.IGNORECASE | re.MULTILINE
    pattern = re.compile(r"^order", flags)
    return {"value": re.IGNORECASE.value, "combined": flags.value, "name": re.I.name,
            "match": bool(pattern.search(event.event)), "has": bool(flags & re.M)}
