# expect: contained
# attack: compile() + FunctionType-free execution of a code object
# outcome: rejected
# error: NameError


def on_track(event, settings):
    code = compile("x = 1", "<x>", "exec")
    return {"escaped": True, "c": repr(code)}
