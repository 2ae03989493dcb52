# expect: invalid
# attack: from operator import attrgetter, methodcaller
# line: 4
from operator import attrgetter, methodcaller


def on_track(event, settings):
    return methodcaller("__reduce_ex__", 2)(attrgetter("__class__")(event))
