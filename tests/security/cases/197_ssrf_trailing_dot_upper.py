# expect: contained
# attack: SSRF via fetch to upper-case host with a trailing dot (LOCALHOST.), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://LOCALHOST.:48081/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
