"""Names and ids on the command line: an instance by its id or by its function's name
(``--instance`` when the function has several), a version by its id or its number
(``3`` or ``v3``)."""

from __future__ import annotations

from typing import Any

from .client import ApiClient, ApiError, quote

__all__ = ["function_of_instance", "instance_id", "version_id"]


def instance_id(api: ApiClient, ref: str, explicit: str | None = None) -> str:
    """The id of the instance ``ref`` names: an ``in_`` id, or a function's name (or
    id) whose single instance it is; ``explicit`` (``--instance``) picks one of several."""
    if ref.startswith("in_") and explicit is None:
        return ref
    instances: list[dict[str, Any]] = api.call("GET", f"/v1/functions/{quote(ref)}")["instances"]
    if explicit is not None:
        for i in instances:
            if explicit in (i["id"], i.get("source_id")):
                return str(i["id"])
        raise ApiError(f"function {ref} has no instance {explicit}")
    if len(instances) == 1:
        return str(instances[0]["id"])
    if not instances:
        raise ApiError(f"function {ref} has no instance; deploy it first")
    ids = ", ".join(i["id"] for i in instances)
    raise ApiError(f"function {ref} has {len(instances)} instances ({ids}); pass --instance")


def function_of_instance(api: ApiClient, instance: str) -> str:
    """The function id of an instance."""
    return str(api.call("GET", f"/v1/instances/{quote(instance)}")["instance"]["function_id"])


def version_id(api: ApiClient, function: str, ref: str) -> str:
    """A version id from its id or its number (``3``, ``v3``) among ``function``'s."""
    if ref.startswith("ver_"):
        return ref
    number = ref[1:] if ref[:1] in {"v", "V"} else ref
    if not number.isdigit():
        raise ApiError(f"{ref!r} is neither a version id (ver_...) nor a number (3 or v3)")
    for v in api.call("GET", f"/v1/functions/{quote(function)}/versions")["versions"]:
        if v["number"] == int(number):
            return str(v["id"])
    raise ApiError(f"function {function} has no version {ref}")
