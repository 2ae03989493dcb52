# expect: invalid
# attack: import inspect: frames, source and globals of the runtime
# line: 4
import inspect


def on_track(event, settings):
    return str(inspect.stack())
