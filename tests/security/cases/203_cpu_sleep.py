# expect: contained
# attack: time.sleep(3600): wall-clock hog that burns no CPU (RLIMIT_CPU never fires)
# outcome: retry
# error: TimeoutError
import time


def on_track(event, settings):
    time.sleep(3600)
    return {"escaped": True}
