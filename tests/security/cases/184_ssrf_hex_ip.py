# expect: contained
# attack: SSRF via fetch to hex-encoded loopback http://0x7f000001/ (inet_aton forms), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://0x7f000001:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
