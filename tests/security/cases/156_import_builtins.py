# expect: invalid
# attack: import builtins: the real builtins (open, eval, __import__)
# line: 4
import builtins


def on_track(event, settings):
    return builtins.open("/proc/self/environ").read()
