# expect: contained
# attack: SSRF via fetch to decimal-encoded loopback http://2130706433/, no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://2130706433:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
