# expect: invalid
# attack: __del__ finalizer that runs later, outside the handler (next invocation, host code)
# line: 7


class Bomb:
    def __del__(self):
        while True:
            pass


KEEP = []


def on_track(event, settings):
    KEEP.append(Bomb())
    return {"escaped": False}
