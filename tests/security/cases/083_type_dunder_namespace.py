# expect: contained
# attack: type(name, bases, {"__del__": ...}) defines the special methods the compiler forbids
# outcome: delivered
# error: none
import collections

RAN = []


def on_track(event, settings):
    try:
        make = collections.Counter.copy(int)
    except Exception:
        return {"escaped": False}

    def finalizer(self):
        RAN.append("__del__ ran")

    cls = make("Finalized", (), {"__del__": finalizer})
    obj = cls()
    obj = None
    return {"escaped": len(RAN) > 0, "ran": RAN}
