# expect: invalid
# attack: __reduce__/__reduce_ex__ on a returned object (pickle / copy gadgets in the host)
# line: 7


class Gadget:
    def __reduce__(self):
        return (print, ("pwned",))

    def __reduce_ex__(self, proto):
        return (print, ("pwned",))


def on_track(event, settings):
    return Gadget()
