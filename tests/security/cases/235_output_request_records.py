# expect: contained
# attack: unbounded delivery record via fetch: each refused request records its full multi-MB URL
# outcome: delivered
# error: none
from functions_sdk import FetchError, fetch


def on_track(event, settings):
    n = 0
    for _ in range(8):
        try:
            fetch("gopher://x/" + "q" * (1024 * 1024))
        except FetchError:
            n += 1
    return {"escaped": False, "refused": n}
