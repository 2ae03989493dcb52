# expect: contained
# attack: share / predict the PRNG across invocations (random.seed, getstate on a module singleton)
# outcome: delivered
# error: none
# runs: 2
import random


def on_track(event, settings):
    hits = []
    for name in ["seed", "getstate", "setstate", "_inst", "Random", "SystemRandom"]:
        if hasattr(random, name):
            hits.append(name)
    return {"escaped": len(hits) > 0, "hits": hits}
