# expect: contained
# attack: OSError-family attributes (filename, errno, strerror) from a fetch failure
# outcome: delivered
# error: none
from functions_sdk import FetchError, RetryError, fetch


def on_track(event, settings):
    hits = []
    try:
        fetch("http://127.0.0.1:48081/", timeout=0.5)
    except (FetchError, RetryError) as e:
        for name in ["errno", "strerror", "filename", "__cause__", "__context__", "status"]:
            try:
                value = getattr(e, name)
                if value is not None:
                    hits.append(name)
            except Exception:
                pass
    return {"escaped": len(hits) > 0, "hits": hits}
