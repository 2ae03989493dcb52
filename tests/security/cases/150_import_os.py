# expect: invalid
# attack: import os: os.environ: the worker's (and via /proc the host's) environment
# line: 4
import os


def on_track(event, settings):
    return dict(os.environ)
