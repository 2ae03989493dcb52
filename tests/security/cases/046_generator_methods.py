# expect: contained
# attack: gen.throw / gen.send / gen.close to drive GeneratorExit through host frames
# outcome: rejected
# error: SandboxAccessError


def gen():
    try:
        yield 1
    except Exception:
        yield 2


def on_track(event, settings):
    g = gen()
    next(g)
    g.throw(ValueError("x"))
    return {"escaped": True}
