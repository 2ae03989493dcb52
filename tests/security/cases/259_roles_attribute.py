# expect: invalid
# attack: Zope-style __roles__ names and attributes
# line: 7


def on_track(event, settings):
    x__roles__ = None
    return {"escaped": x__roles__}
