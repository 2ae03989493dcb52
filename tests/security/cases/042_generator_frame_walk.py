# expect: invalid
# attack: gen.gi_frame.f_back.f_globals (CVE-2023-37271)
# line: 13


def gen():
    yield 1


def on_track(event, settings):
    g = gen()
    next(g)
    return sorted(g.gi_frame.f_back.f_globals)
