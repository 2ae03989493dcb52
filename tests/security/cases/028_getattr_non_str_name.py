# expect: contained
# attack: getattr with a str subclass whose __eq__/__hash__ lie: it looks like "x" to a name check, matches "__class__" in the lookup
# outcome: rejected
# error: TypeError


class Name(str):
    def __eq__(self, other):
        return True

    def __hash__(self):
        return hash("__class__")


def on_track(event, settings):
    found = getattr(event, Name("x"), None)
    return {"escaped": found is not None, "v": repr(found)[:80]}
