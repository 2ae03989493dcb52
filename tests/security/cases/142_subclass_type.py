# expect: contained
# attack: class Meta(type) to build a metaclass (type() is the guard's one-argument version: not a class)
# outcome: rejected
# error: TypeError


class Meta(type):
    pass


def on_track(event, settings):
    return {"escaped": True}
