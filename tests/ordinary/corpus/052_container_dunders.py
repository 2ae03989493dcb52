class Bag:
    def __init__(self, items):
        self._items = list(items)

    def __getitem__(self, i):
        return self._items[i]

    def __setitem__(self, i, v):
        self._items[i] = v

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __contains__(self, x):
        return x in self._items

    def __reversed__(self):
        return reversed(self._items)


def on_track(event, settings):
    bag = Bag(i["sku"] for i in event.properties["items"])
    bag[0] = "A-9"
    return {"len": len(bag), "first": bag[0], "in": "B-7" in bag, "list": list(bag),
            "rev": list(reversed(bag)), "slice": bag[0:1]}
