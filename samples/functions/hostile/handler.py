"""Hostile code: refused at upload, before it ever runs."""

import os

from functions_sdk import Settings, TrackEvent


def on_track(event: TrackEvent, settings: Settings) -> str:
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    return secret + str(().__class__.__mro__[1].__subclasses__())
