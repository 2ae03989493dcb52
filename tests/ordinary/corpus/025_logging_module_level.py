import logging

logging.basicConfig(level=logging.INFO)


def on_track(event, settings):
    logging.info("order %s", event.properties["order_id"])
    logging.getLogger("crm").getChild("sync").error("nope")
    return {"levels": [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]}
