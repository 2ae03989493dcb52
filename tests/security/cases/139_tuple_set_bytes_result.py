# expect: contained
# attack: non-JSON values in results (set, bytes, complex, NaN, non-str keys)
# outcome: rejected
# error: ResultError


def on_track(event, settings):
    return {"s": {1, 2}, "b": b"raw", "c": 1j, 1: "int key", "n": float("nan")}
