import copy


class Cursor:
    def __init__(self, page):
        self.page = page
        self.seen = []


def on_track(event, settings):
    a = Cursor(1)
    b = copy.copy(a)
    c = copy.deepcopy(a)
    b.page = 2
    b.seen.append("x")
    return {"a": [a.page, a.seen], "b": [b.page, b.seen], "c": [c.page, c.seen]}
