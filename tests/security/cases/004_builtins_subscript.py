# expect: invalid
# attack: __builtins__["__import__"]("os") straight from the module globals
# line: 7


def on_track(event, settings):
    os = __builtins__["__import__"]("os")
    return dict(os.environ)
