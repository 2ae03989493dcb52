"""A handler that never returns: the runtime kills it from outside on its timeout."""

from functions_sdk import Settings, TrackEvent


def on_track(event: TrackEvent, settings: Settings) -> None:
    while True:
        pass
