# expect: contained
# attack: `type` (via Counter.copy) + a metaclass whose __hash__/__eq__ lie makes Guards treat a TrackEvent subclass as author code -> parse_raw -> pickle
# outcome: rejected
# error: SandboxAccessError
import collections

from functions_sdk import TrackEvent


class Anchor:
    pass


EXPR = "{'type': 'track', 'event': 'x', 'userId': 'u', 'properties': {'pid': __import__('os').getpid()}}"


def on_track(event, settings):
    make = collections.Counter.copy(int)  # type
    anchor = hash(Anchor)

    def same(a, b):
        return True

    def fake_hash(a):
        return anchor

    liar = make("Liar", (make(TrackEvent),), {"__eq__": same, "__hash__": fake_hash})
    model = liar("Model", (TrackEvent,), {"__module__": "probe"})
    blob = "cbuiltins\neval\n(V" + EXPR + "\ntR."
    got = model.parse_raw(blob.encode(), content_type="application/pickle", allow_pickle=True)
    return {"escaped": True, "pid": got.properties["pid"]}
