# expect: contained
# attack: rebind builtins the guards are exposed as (getattr = ...) and hope the runtime uses ours
# runs: 2
import json

getattr = lambda obj, name, *d: "shadowed"  # noqa: E731


def on_track(event, settings):
    real = json.dumps({"a": 1})
    return {"escaped": real != '{"a": 1}'}
