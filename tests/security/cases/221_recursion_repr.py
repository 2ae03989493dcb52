# expect: contained
# attack: recursion inside C: repr()/str() of a self-referencing or 10**6-deep nested list
# outcome: retry
# error: RecursionError


def on_track(event, settings):
    nested = []
    for _ in range(10 ** 6):
        nested = [nested]
    text = repr(nested)
    return {"escaped": len(text) > 0}
