# expect: invalid
# attack: __metaclass__ = type at module level to replace the class hook
# line: 4
__metaclass__ = type


class X:
    pass


def on_track(event, settings):
    return {"escaped": True}
