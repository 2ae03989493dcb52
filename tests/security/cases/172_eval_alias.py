# expect: contained
# attack: e = eval; e("...") (an alias is not caught by the compile-time exec/eval check)
# outcome: rejected
# error: NameError


def on_track(event, settings):
    run = eval
    return {"escaped": True, "v": run("1 + 1")}
