# expect: invalid
# attack: import sys: sys.modules: every real module in the worker
# line: 4
import sys


def on_track(event, settings):
    return sorted(sys.modules)
