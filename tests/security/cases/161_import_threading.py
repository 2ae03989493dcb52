# expect: invalid
# attack: import threading: a thread that outlives the invocation
# line: 4
import threading


def on_track(event, settings):
    return threading.Thread(target=print).start()
