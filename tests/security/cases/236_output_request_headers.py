# expect: contained
# attack: unbounded delivery record via fetch: multi-MB header values recorded before sending
# outcome: delivered
# error: none
from functions_sdk import FetchError, fetch


def on_track(event, settings):
    n = 0
    for _ in range(8):
        try:
            fetch("http://127.0.0.1:48081/", headers={"X-Pad": "h" * (1024 * 1024)}, timeout=0.5)
        except FetchError:
            n += 1
    return {"escaped": False, "refused": n}
