# expect: contained
# attack: SSRF via fetch to AWS IPv6 metadata endpoint fd00:ec2::254, no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://[fd00:ec2::254]/latest/meta-data/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
