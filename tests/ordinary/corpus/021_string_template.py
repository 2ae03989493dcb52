from string import Template


def on_track(event, settings):
    t = Template("Hello $name, your $plan plan costs ${total}")
    text = t.substitute(name=event.userId, plan=event.properties["plan"], total=event.properties["total"])
    safe = Template("$a and $b").safe_substitute(a=1)
    return {"text": text, "safe": safe}
