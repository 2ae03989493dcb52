# expect: invalid
# attack: ().__class__.__bases__[0].__subclasses__() walk to os._wrap_close / subprocess.Popen
# line: 7


def on_track(event, settings):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "_wrap_close":
            return cls.__init__.__globals__["system"]("id")
    return None
