import itertools


def on_track(event, settings):
    skus = [i["sku"] for i in event.properties["items"]]
    pairs = list(itertools.product(skus, ["eu", "us"]))
    groups = {k: len(list(g)) for k, g in itertools.groupby(sorted("aabbbc"))}
    return {"pairs": pairs, "chain": list(itertools.chain(skus, ["Z"])), "groups": groups,
            "pairwise": list(itertools.pairwise([1, 2, 3]))}
