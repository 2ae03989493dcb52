def make_filters(limits):
    return [lambda x, lim=lim: x > lim for lim in limits]


def on_track(event, settings):
    filters = make_filters([10, 50])
    totals = [i["qty"] * i["price"] for i in event.properties["items"]]
    return [[f(t) for f in filters] for t in totals]
