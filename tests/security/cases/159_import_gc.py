# expect: invalid
# attack: import gc: gc.get_objects() lists every live object (settings of the host)
# line: 4
import gc


def on_track(event, settings):
    return [repr(o) for o in gc.get_objects()]
