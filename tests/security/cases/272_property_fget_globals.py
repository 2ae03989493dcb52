# expect: contained
# attack: property.fget.__globals__ on an exposed class's property (uuid.UUID.hex)
# outcome: rejected
# error: SandboxAccessError
import uuid


def on_track(event, settings):
    fget = uuid.UUID.hex.fget
    return {"escaped": True, "g": sorted(getattr(fget, "__globals__"))[:5]}
