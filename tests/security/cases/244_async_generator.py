# expect: invalid
# attack: async generator ag_frame / await in comprehension
# line: 6


async def agen():
    yield 1


def on_track(event, settings):
    return repr(agen().ag_frame)
