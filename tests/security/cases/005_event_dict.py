# expect: invalid
# attack: event.__dict__ / settings.__slots__ to read raw host-side storage
# line: 7


def on_track(event, settings):
    return {"event": event.__dict__, "slots": settings.__slots__}
