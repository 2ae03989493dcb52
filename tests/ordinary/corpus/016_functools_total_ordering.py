from functools import total_ordering


@total_ordering
class Tier:
    ORDER = ["free", "pro", "enterprise"]

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return self.name == other.name

    def __lt__(self, other):
        return self.ORDER.index(self.name) < self.ORDER.index(other.name)


def on_track(event, settings):
    t = Tier(event.properties["plan"])
    return {"ge_free": t >= Tier("free"), "gt_ent": t > Tier("enterprise"), "le": t <= t}
