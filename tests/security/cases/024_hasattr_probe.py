# expect: contained
# attack: hasattr/getattr-with-default probing of every special attribute on host objects
# outcome: delivered
# error: none
from functions_sdk import TrackEvent, fetch, logger

NAMES = ["__class__", "__globals__", "__dict__", "__code__", "__closure__", "__self__",
         "__func__", "__module__", "__builtins__", "__subclasses__", "__mro__", "__bases__",
         "__pydantic_validator__", "__wrapped__", "_values", "_emit", "_secret_names",
         "model_config", "model_fields", "parse_raw", "parse_file", "mro", "gi_frame",
         "f_globals", "tb_frame"]


def on_track(event, settings):
    hits = []
    for target in [event, settings, fetch, logger, TrackEvent, on_track, 1, "s", None]:
        for name in NAMES:
            if hasattr(target, name) or getattr(target, name, None) is not None:
                hits.append(name)
    # str.format_map is available now (issue 13), as the guard's own version: reaching
    # it must not reach attributes past the guard.
    for target in ["{x.__class__}", "{x.__globals__}"]:
        fm = getattr(target, "format_map", None)
        try:
            fm({"x": on_track})
            hits.append("format_map")
        except AttributeError:
            pass
    return {"escaped": len(hits) > 0, "hits": hits}
