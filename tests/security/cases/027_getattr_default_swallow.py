# expect: contained
# attack: getattr(x, forbidden, default): the default must come back, never the attribute
# outcome: delivered
# error: none
from functions_sdk import fetch


def on_track(event, settings):
    sentinel = object()
    results = [
        getattr(fetch, "__globals__", sentinel) is sentinel,
        getattr(settings, "_values", sentinel) is sentinel,
        getattr(event, "__pydantic_validator__", sentinel) is sentinel,
        getattr(on_track, "__code__", sentinel) is sentinel,
    ]
    return {"escaped": not all(results)}
