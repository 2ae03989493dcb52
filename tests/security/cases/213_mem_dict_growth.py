# expect: contained
# attack: dict/str growth by doubling (allocations that stay under any single-object cap)
# outcome: retry
# error: MemoryError MemoryLimitExceeded


def on_track(event, settings):
    blob = "x"
    store = {}
    i = 0
    while True:
        blob = blob + blob
        store[str(i)] = blob
        i += 1
