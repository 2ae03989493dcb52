# expect: contained
# attack: a result just under the item cap but with 10 KB keys (item count ok, size not)
# outcome: retry
# error: MemoryError MemoryLimitExceeded


def on_track(event, settings):
    return {str(i) + "k" * 10000: i for i in range(50000)}
