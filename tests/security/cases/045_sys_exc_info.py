# expect: invalid
# attack: sys.exc_info()[2].tb_frame / sys._getframe()
# line: 4
import sys


def on_track(event, settings):
    return sorted(sys._getframe(1).f_globals)
