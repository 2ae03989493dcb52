import logging

log = logging.getLogger(__name__)


def on_track(event, settings):
    log.info("processing %s for %s", event.event, event.userId)
    log.debug("props: %r", dict(event.properties))
    log.warning("plan=%(plan)s", {"plan": event.properties["plan"]})
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("division failed")
    return {"logger": log.name, "enabled": log.isEnabledFor(logging.ERROR)}
