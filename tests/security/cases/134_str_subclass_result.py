# expect: contained
# attack: str subclass in a result (json.dumps would call its methods in the host)
# outcome: rejected
# error: TypeError


class Sneaky(str):
    def __str__(self):
        return "other"


def on_track(event, settings):
    return {"k": Sneaky("v")}
