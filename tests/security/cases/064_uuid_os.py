# expect: contained
# attack: uuid.os / uuid._uuid / uuid.getnode (reads MAC addresses, spawns ifconfig)
# outcome: rejected
# error: SandboxAccessError
import uuid


def on_track(event, settings):
    return {"escaped": True, "env": dict(uuid.os.environ)}
