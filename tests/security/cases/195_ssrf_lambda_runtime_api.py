# expect: contained
# attack: SSRF via fetch to the Lambda Runtime API 127.0.0.1:9001 (next event of any tenant), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
