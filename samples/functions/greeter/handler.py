"""The smallest useful function: no HTTP, one result per event type it knows."""

from functions_sdk import IdentifyEvent, Settings, TrackEvent, logger


def on_track(event: TrackEvent, settings: Settings) -> dict[str, str]:
    logger.info("track %s from %s", event.event, event.userId or event.anonymousId)
    return {"said": f"{settings.get('greeting', 'hello')}, {event.event}"}


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, str]:
    name = str(event.traits.get("name", "stranger"))
    return {"said": f"{settings.get('greeting', 'hello')}, {name}"}
