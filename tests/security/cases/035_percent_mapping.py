# expect: contained
# attack: %-formatting with a mapping key naming a special attribute, and logger arg formatting
from functions_sdk import logger


def on_track(event, settings):
    logger.info("%(__class__)s %(__globals__)s", {"x": 1})
    logger.info("{0.__class__}", event)
    try:
        text = "%(__class__)s" % event
    except TypeError:
        text = ""
    return {"escaped": "class" in text or "TrackEvent" in text}
