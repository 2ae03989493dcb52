# expect: contained
# attack: huge int <-> str conversions and factorials (quadratic algorithms in C)
# outcome: retry
# error: TimeoutError
import math


def on_track(event, settings):
    hits = []
    try:
        hits.append(len(str(10 ** 100000)))
    except ValueError:
        pass
    try:
        hits.append(int("9" * 100000))
    except ValueError:
        pass
    big = math.factorial(10 ** 7)
    return {"escaped": big > 0 and len(hits) > 0}
