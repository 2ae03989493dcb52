# expect: contained
# attack: SSRF via fetch to 0.0.0.0 (connects to the local host on Linux), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://0.0.0.0:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
