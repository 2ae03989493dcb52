# expect: invalid
# attack: import ctypes: raw memory access
# line: 4
import ctypes


def on_track(event, settings):
    return ctypes.string_at(0, 10)
