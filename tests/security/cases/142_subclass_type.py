# expect: contained
# attack: class Meta(type) to build a metaclass (type is not a builtin here)
# outcome: rejected
# error: NameError


class Meta(type):
    pass


def on_track(event, settings):
    return {"escaped": True}
