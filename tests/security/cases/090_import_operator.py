# expect: invalid
# attack: import operator (attrgetter/methodcaller do getattr unguarded: RP PR #330)
# line: 4
import operator


def on_track(event, settings):
    return operator.attrgetter("__class__.__mro__")(event)
