# expect: contained
# attack: return an object with __eq__/__hash__ so the host runs author code while building the record
# outcome: rejected
# error: ResultError


class Sticky:
    def __eq__(self, other):
        while True:
            pass

    def __hash__(self):
        while True:
            pass


def on_track(event, settings):
    return {"value": Sticky()}
