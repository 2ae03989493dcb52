# expect: invalid
# attack: define __getattribute__ / __getattr__ to intercept the runtime's own lookups
# line: 7


class Spy:
    def __getattribute__(self, name):
        return name

    def __getattr__(self, name):
        return name


def on_track(event, settings):
    return {"escaped": Spy().anything == "anything"}
