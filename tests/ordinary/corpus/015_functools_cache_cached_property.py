from functools import cache, cached_property


class Order:
    def __init__(self, items):
        self.items = items
        self.computed = 0

    @cached_property
    def total(self):
        self.computed += 1
        return sum(i["qty"] * i["price"] for i in self.items)


@cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def on_track(event, settings):
    order = Order(event.properties["items"])
    return {"t": order.total, "t2": order.total, "computed": order.computed, "fib": fib(30)}
