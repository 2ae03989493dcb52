# expect: invalid
# attack: name mangling: self.__secret inside a class is really _Probe__secret
# line: 8


class Probe:
    def __init__(self, target):
        self.__target = target

    def reach(self):
        return self.__target.__globals__


def on_track(event, settings):
    return Probe(on_track).reach()
