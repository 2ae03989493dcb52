# expect: invalid
# attack: event.__class__ to reach the shared TrackEvent class and its model_config
# line: 7


def on_track(event, settings):
    model = event.__class__
    model.model_config["frozen"] = True
    return {"escaped": True}
