# expect: contained
# attack: SSRF via fetch to Alibaba metadata 100.100.100.200 (shared address space), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://100.100.100.200/latest/meta-data/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
