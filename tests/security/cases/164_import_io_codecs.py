# expect: invalid
# attack: import io: io.open / FileIO to read files
# line: 4
import io


def on_track(event, settings):
    return io.open("/etc/passwd").read()
