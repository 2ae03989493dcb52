# expect: contained
# attack: returned object whose __repr__/__str__ would run (and loop) when the host formats it
# outcome: rejected
# error: ResultError


class Loud:
    def __repr__(self):
        while True:
            pass

    def __str__(self):
        while True:
            pass


def on_track(event, settings):
    return [Loud()]
