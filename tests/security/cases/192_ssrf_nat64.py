# expect: contained
# attack: SSRF via fetch to NAT64-embedded loopback [64:ff9b::7f00:1], no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://[64:ff9b::7f00:1]:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
