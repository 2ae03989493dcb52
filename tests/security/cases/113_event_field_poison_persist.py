# expect: contained
# attack: mutate event.context / properties in place and hope the next invocation shares it
# runs: 2


def on_track(event, settings):
    props = event.properties
    if props.get("planted"):
        return {"escaped": True}
    props["planted"] = True
    ctx = event.context
    if ctx is not None:
        ctx["planted"] = True
    return {"escaped": False}
