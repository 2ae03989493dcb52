# expect: invalid
# attack: import functools (partial/reduce/wraps copy __dict__, __wrapped__ walks)
# line: 4
import functools


def on_track(event, settings):
    return functools.reduce(getattr, ["__class__", "__mro__"], event)
