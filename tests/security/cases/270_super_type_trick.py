# expect: contained
# attack: super(Cls, Cls) / super(Cls, obj) to reach parent-class special methods and descriptors
# outcome: delivered
# error: none
from functions_sdk import RetryError


class Mine(RetryError):
    pass


def on_track(event, settings):
    hits = []
    proxy = super(Mine, Mine)
    for name in ["__subclasshook__", "__reduce_ex__", "__init_subclass__", "mro", "__dict__",
                 "__globals__", "__class__", "__subclasses__"]:
        try:
            hits.append(repr(getattr(proxy, name))[:40])
        except Exception:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
