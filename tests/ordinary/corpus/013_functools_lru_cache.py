from functools import lru_cache


@lru_cache(maxsize=32)
def slug(text):
    return text.strip().lower().replace(" ", "-")


def on_track(event, settings):
    names = [event.event, event.event, "Other Thing"]
    out = [slug(n) for n in names]
    info = slug.cache_info()
    return {"out": out, "hits": info.hits, "misses": info.misses}
