class Defaulting:
    def __init__(self, values):
        self.values = dict(values)

    def __getitem__(self, key):
        return self.values.get(key, f"<{key}>")


def on_track(event, settings):
    tpl = "Order {order_id} ({currency}) {missing}"
    return {"text": tpl.format_map(Defaulting(event.properties)),
            "plain": "{a}-{b}".format_map({"a": 1, "b": 2})}
