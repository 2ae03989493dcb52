import copy


def on_track(event, settings):
    props = event.properties
    template = {"tags": ["a"], "meta": {"n": 1}}
    shallow = copy.copy(template)
    deep = copy.deepcopy(template)
    shallow["tags"].append("b")
    deep["meta"]["n"] = 2
    props_copy = copy.deepcopy(props)
    props_copy["plan"] = "changed"
    return {"template": template, "deep": deep, "orig_plan": props["plan"]}
