# expect: contained
# attack: SSRF via fetch to private network 10.0.0.1, no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://10.0.0.1/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
