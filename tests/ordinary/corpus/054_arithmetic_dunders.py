class Money:
    def __init__(self, cents, cur="EUR"):
        self.cents = cents
        self.cur = cur

    def __add__(self, other):
        return Money(self.cents + (other.cents if isinstance(other, Money) else other), self.cur)

    def __radd__(self, other):
        return self + other

    def __mul__(self, k):
        return Money(self.cents * k, self.cur)

    def __neg__(self):
        return Money(-self.cents, self.cur)

    def __eq__(self, other):
        return isinstance(other, Money) and self.cents == other.cents

    def __lt__(self, other):
        return self.cents < other.cents

    def __hash__(self):
        return hash(self.cents)

    def __repr__(self):
        return f"Money({self.cents}, {self.cur!r})"


def on_track(event, settings):
    prices = [Money(int(i["price"] * 100)) * i["qty"] for i in event.properties["items"]]
    total = sum(prices)
    return {"total": repr(total), "neg": repr(-total), "min": repr(min(prices)),
            "eq": Money(1) == Money(1), "set": len({Money(1), Money(1)})}
