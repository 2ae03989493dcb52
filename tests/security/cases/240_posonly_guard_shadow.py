# expect: invalid
# attack: positional-only parameter shadows a guard: def f(_getattr_=getattr, /) (CVE-2026-55830)
# line: 6


def walk(obj, _getattr_=None, /):
    return obj.__class__


def on_track(event, settings):
    return walk(event)
