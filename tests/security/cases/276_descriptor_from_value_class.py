# expect: contained
# attack: class-level descriptors of exposed classes (int.real, complex.imag, range.start) and __get__
# outcome: delivered
# error: none
import datetime


def on_track(event, settings):
    hits = []
    for descriptor in [int.real, complex.imag, range.start, datetime.datetime.max]:
        for name in ["__get__", "__objclass__", "__set__", "__name__"]:
            try:
                hits.append(repr(getattr(descriptor, name))[:40])
            except Exception:
                pass
    return {"escaped": len(hits) > 0, "hits": hits}
