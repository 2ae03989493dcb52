# expect: contained
# attack: return a 100 MB string as the result
# outcome: rejected
# error: ResultTooLarge


def on_track(event, settings):
    return "x" * (100 * 1024 * 1024)
