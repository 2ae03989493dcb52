# expect: contained
# attack: memory bomb "x" * 10 ** 10
# outcome: retry
# error: MemoryError


def on_track(event, settings):
    blob = "x" * 10 ** 10
    return {"escaped": len(blob) > 0}
