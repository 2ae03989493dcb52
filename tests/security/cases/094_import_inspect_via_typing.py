# expect: invalid
# attack: from typing import get_type_hints / _eval_type (string evaluation in host globals)
# line: 4
from typing import get_type_hints


def on_track(event, settings):
    return repr(get_type_hints(on_track))
