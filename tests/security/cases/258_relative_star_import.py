# expect: invalid
# attack: relative import and star import (from . import x; from json import *)
# line: 4
from json import *
from . import sibling


def on_track(event, settings):
    return {"escaped": True}
