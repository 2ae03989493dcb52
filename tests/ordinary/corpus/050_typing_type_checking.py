from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from functions_sdk import Settings, TrackEvent


def on_track(event: "TrackEvent", settings: "Settings") -> dict:
    return {"ok": True, "checking": TYPE_CHECKING}
