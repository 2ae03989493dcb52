# expect: invalid
# attack: import functions_runtime: the runtime itself (guards, pool)
# line: 4
import functions_runtime


def on_track(event, settings):
    return functions_runtime.__file__
