from collections import Counter, OrderedDict, defaultdict, deque


def on_track(event, settings):
    c = Counter("mississippi")
    d = defaultdict(int)
    for item in event.properties["items"]:
        d[item["sku"][0]] += item["qty"]
    q = deque(maxlen=2)
    for x in range(5):
        q.append(x)
    od = OrderedDict(b=1, a=2)
    od.move_to_end("b")
    return {"common": c.most_common(2), "d": dict(d), "q": list(q), "od": list(od)}
