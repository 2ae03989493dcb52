# expect: contained
# attack: regex ReDoS re.match("(a+)+$", "a" * 40 + "b") (catastrophic backtracking in C)
# outcome: retry
# error: TimeoutError
import re


def on_track(event, settings):
    return {"escaped": re.match("(a+)+$", "a" * 40 + "b") is not None}
