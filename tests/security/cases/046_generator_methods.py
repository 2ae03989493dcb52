# expect: contained
# attack: gen.throw / gen.send / gen.close (available since issue 13) to drive GeneratorExit through host frames or reach the frame
# outcome: rejected
# error: RuntimeError


def gen():
    while True:
        try:
            yield 1
        except:  # noqa: E722 - catches GeneratorExit too
            yield 2


def on_track(event, settings):
    g = gen()
    next(g)
    for name in ("gi_frame", "gi_code", "gi_yieldfrom", "f_globals"):
        if getattr(g, name, None) is not None:
            return {"escaped": True, "name": name}
    g.send(None)
    g.throw(ValueError("x"))
    next(g)  # back inside the try
    g.close()  # the generator yields on GeneratorExit: RuntimeError in the author's frame
    return {"escaped": True}
