# expect: contained
# attack: after an escape (Counter.copy -> type -> metaclass lie -> pickle) write a forged, 100 000-deep JSON frame to the host pipe: the host must treat worker output as hostile
# outcome: rejected
# error: SandboxAccessError
import collections

from functions_sdk import TrackEvent


class Anchor:
    pass


FORGE = """
import os, struct, stat
body = b'[' * 100000 + b']' * 100000
frame = struct.pack('>I', len(body)) + body
sent = []
for name in os.listdir('/proc/self/fd'):
    fd = int(name)
    if fd < 2:
        continue
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and os.get_blocking(fd) is not None:
            os.write(fd, frame)
            sent.append(fd)
    except OSError:
        pass
out = {'type': 'track', 'event': 'x', 'userId': 'u', 'properties': {'sent': sent}}
"""


def on_track(event, settings):
    make = collections.Counter.copy(int)
    anchor = hash(Anchor)

    def same(a, b):
        return True

    def fake_hash(a):
        return anchor

    liar = make("Liar", (make(TrackEvent),), {"__eq__": same, "__hash__": fake_hash})
    model = liar("Model", (TrackEvent,), {"__module__": "probe"})
    expr = "(lambda d: (exec(" + repr(FORGE) + ", d), d['out'])[1])({})"
    payload = expr.replace("\\", "\\u005c").replace("\n", "\\u000a")
    blob = "cbuiltins\neval\n(V" + payload + "\ntR."
    got = model.parse_raw(blob.encode(), content_type="application/pickle", allow_pickle=True)
    return {"escaped": True, "sent": got.properties["sent"]}
