# expect: contained
# attack: getattr with a str-like non-str name object (author class with __eq__/__hash__)
# error: TypeError


class Name:
    def __eq__(self, other):
        return True

    def __hash__(self):
        return hash("__class__")

    def __str__(self):
        return "__class__"


def on_track(event, settings):
    return {"escaped": True, "v": repr(getattr(event, Name()))}
