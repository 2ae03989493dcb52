import logging

log = logging.getLogger("exporter")
log.setLevel(logging.WARNING)


def on_track(event, settings):
    log.debug("hidden")
    log.warning("shown %s", event.event)
    return {"debug": log.isEnabledFor(logging.DEBUG), "warn": log.isEnabledFor(logging.WARNING)}
