# expect: invalid
# attack: augmented assignment on a special attribute (x.__dict__ |= {...})
# line: 7


def on_track(event, settings):
    event.__dict__ |= {"userId": "someone-else"}
    return {"escaped": True}
