import typing
from typing import Any, Dict, List, Mapping, Optional


def pick(data: Mapping[str, Any], key: str) -> Optional[Any]:
    return data.get(key) if isinstance(data, typing.Mapping) else None


def on_track(event, settings):
    items: List[Dict[str, Any]] = event.properties["items"]
    return {"plan": pick(event.properties, "plan"), "seq": isinstance(items, typing.Sequence),
            "list": isinstance(items, typing.List), "not": pick("x", "y")}
