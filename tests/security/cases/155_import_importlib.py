# expect: invalid
# attack: import importlib: import any module by name
# line: 4
import importlib


def on_track(event, settings):
    return str(importlib.import_module("os").environ)
