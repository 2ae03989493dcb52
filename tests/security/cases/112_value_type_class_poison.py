# expect: contained
# attack: setattr on Python-level classes handed to handlers (Counter, OrderedDict, Decimal context): writable in plain Python, shared by the next invocation
# outcome: rejected
# error: SandboxAccessError
import collections


def on_track(event, settings):
    setattr(collections.Counter, "most_common", len)
    return {"escaped": collections.Counter.most_common is len}
