class Token:
    __slots__ = ("value", "expires")

    def __init__(self, value, expires):
        self.value = value
        self.expires = expires


def on_track(event, settings):
    t = Token("abc", 3600)
    try:
        t.other = 1
        locked = False
    except AttributeError:
        locked = True
    return {"value": t.value, "expires": t.expires, "locked": locked}
