_tmpl = "Dear {name}"
_tmp = []
_tmp0 = 5


def on_track(event, settings):
    _tmp.append(_tmp0)
    _tmp_total = 0
    for item in event.properties["items"]:
        _tmp_total += item["qty"]
    counter = {"n": 0}
    counter["n"] += _tmp_total
    return {"text": _tmpl.format(name=event.userId), "tmp": _tmp, "n": counter["n"]}
