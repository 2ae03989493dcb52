class Percent:
    def __init__(self, v):
        self.v = v

    def __format__(self, spec):
        return f"{self.v * 100:{spec or '.0f'}}%"

    def __str__(self):
        return format(self, "")


def on_track(event, settings):
    p = Percent(0.256)
    return {"f": f"{p}", "spec": f"{p:.1f}", "format": format(p, ".2f"), "str": str(p),
            "method": "rate {:.1f}".format(p)}
