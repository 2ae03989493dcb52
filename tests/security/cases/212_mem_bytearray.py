# expect: contained
# attack: bytearray(10 ** 11) / [0] * 10 ** 10 (one allocation in C)
# outcome: retry
# error: MemoryError MemoryLimitExceeded


def on_track(event, settings):
    a = bytearray(10 ** 11)
    b = [0] * 10 ** 10
    return {"escaped": len(a) + len(b) > 0}
