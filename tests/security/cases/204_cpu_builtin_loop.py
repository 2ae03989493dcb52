# expect: contained
# attack: sum(range(10 ** 15)) / itertools.product: long loops entirely inside C
# outcome: retry
# error: TimeoutError
import itertools


def on_track(event, settings):
    total = sum(range(10 ** 15))
    for _ in itertools.product(range(10 ** 6), repeat=3):
        pass
    return {"escaped": total > 0}
