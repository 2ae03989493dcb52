# expect: contained
# attack: memory bomb: a list that grows until the machine runs out
# outcome: retry
# error: MemoryError MemoryLimitExceeded


def on_track(event, settings):
    hoard = []
    while True:
        hoard.append(bytearray(1024 * 1024))
