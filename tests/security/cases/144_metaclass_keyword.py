# expect: invalid
# attack: class X(metaclass=M) to replace the runtime's class hook
# line: 10


class Meta:
    pass


class X(object, metaclass=Meta):
    pass


def on_track(event, settings):
    return {"escaped": True}
