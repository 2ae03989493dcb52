# expect: contained
# attack: SSRF via fetch to loopback 127.0.0.1 (services next to the runtime), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://127.0.0.1:48081/admin", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
