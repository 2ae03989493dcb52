# expect: invalid
# attack: import string: string.Formatter traversal (CVE-2021-32807 class)
# line: 4
import string


def on_track(event, settings):
    return string.Formatter().format("{0.__class__}", event)
