import string


def on_track(event, settings):
    f = string.Formatter()
    return f.format("{0}-{name}-{1[sku]}", event.userId, event.properties["items"][0], name="x")
