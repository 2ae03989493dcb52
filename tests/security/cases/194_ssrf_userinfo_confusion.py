# expect: contained
# attack: SSRF via fetch to userinfo confusion http://good.example@127.0.0.1/, no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://hooks.example.com@127.0.0.1:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
