# expect: contained
# attack: catch GeneratorExit to keep a generator alive past close()
# outcome: rejected
# error: NameError


def gen():
    while True:
        try:
            yield 1
        except GeneratorExit:
            continue


def on_track(event, settings):
    g = gen()
    next(g)
    return {"escaped": GeneratorExit is not None}
