# expect: contained
# attack: SSRF via fetch to cloud metadata 169.254.169.254 (IAM credentials), no operator allowance
# outcome: rejected
# error: RequestBlocked
from functions_sdk import fetch


def on_track(event, settings):
    response = fetch("http://169.254.169.254/latest/meta-data/iam/security-credentials/", timeout=1)
    return {"escaped": True, "status": response.status, "body": response.text[:200]}
