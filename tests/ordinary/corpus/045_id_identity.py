def on_track(event, settings):
    a = {"x": 1}
    b = a
    c = dict(a)
    seen = {id(a)}
    return {"same": id(a) == id(b), "copy": id(c) in seen, "int": isinstance(id(a), int)}
