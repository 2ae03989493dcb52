# expect: invalid
# attack: import asyncio: event loop, subprocess and socket APIs
# line: 4
import asyncio


def on_track(event, settings):
    return asyncio.run(asyncio.sleep(0))
