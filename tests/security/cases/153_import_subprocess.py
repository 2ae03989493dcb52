# expect: invalid
# attack: import subprocess: run a shell
# line: 4
import subprocess


def on_track(event, settings):
    return subprocess.check_output(["env"]).decode()
