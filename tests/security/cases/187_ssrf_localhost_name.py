# expect: contained
# attack: SSRF via fetch to host name resolving to loopback (localhost via /etc/hosts), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://localhost:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
