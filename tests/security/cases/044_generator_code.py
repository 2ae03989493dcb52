# expect: invalid
# attack: gen.gi_code.co_consts / co_code to read the compiled guard machinery
# line: 11


def gen():
    yield 1


def on_track(event, settings):
    return list(gen().gi_code.co_consts)
