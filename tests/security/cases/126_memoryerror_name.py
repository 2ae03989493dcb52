# expect: contained
# attack: raise/catch MemoryError by name (recycle/retry signalling)
# outcome: rejected
# error: NameError


def on_track(event, settings):
    raise MemoryError()
