# expect: contained
# attack: CPU bomb in C: 10 ** 10 ** 8 (one bytecode, no Python-level checks)
# outcome: retry
# error: TimeoutError


def on_track(event, settings):
    n = 10 ** 10 ** 8
    return {"escaped": n > 0}
