# expect: invalid
# attack: coroutine cr_frame / async generator ag_frame
# line: 6


async def coro():
    return 1


def on_track(event, settings):
    c = coro()
    return sorted(c.cr_frame.f_globals)
