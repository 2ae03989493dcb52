TYPE_CHECKING = True

if TYPE_CHECKING:
    DEBUG_FIELDS = ["sku", "qty"]
else:
    DEBUG_FIELDS = []


def on_track(event, settings):
    return [{k: i[k] for k in DEBUG_FIELDS} for i in event.properties["items"]]
