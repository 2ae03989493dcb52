# expect: invalid
# attack: __init_subclass__ / __class_getitem__ / __set_name__ hooks the interpreter calls
# line: 7


class Hook:
    def __init_subclass__(cls, **kw):
        pass

    def __set_name__(self, owner, name):
        pass

    def __class_getitem__(cls, item):
        return cls


def on_track(event, settings):
    return {"escaped": False}
