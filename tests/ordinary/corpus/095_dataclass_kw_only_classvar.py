from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(kw_only=True)
class Request:
    VERSION: ClassVar[str] = "v2"
    path: str
    retries: int = 2
    tags: list[str] = field(default_factory=lambda: ["fn"])


def on_track(event, settings):
    r = Request(path="/x")
    return {"path": r.path, "retries": r.retries, "tags": r.tags, "version": Request.VERSION,
            "repr": repr(r)}
