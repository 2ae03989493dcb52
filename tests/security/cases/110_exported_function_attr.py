# expect: contained
# attack: write attributes / defaults on exported functions (fetch.__defaults__, fetch.x)
# outcome: rejected
# error: SandboxAccessError
from functions_sdk import fetch


def on_track(event, settings):
    fetch.allow = ("0.0.0.0/0",)
    return {"escaped": True}
