# expect: contained
# attack: the same traceback/frame walk with getattr and computed names
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    try:
        1 / 0
    except ZeroDivisionError as e:
        tb = getattr(e, "__trace" + "back__")
        frame = getattr(tb, "tb_" + "frame")
        return {"escaped": True, "g": sorted(getattr(frame, "f_globals"))}
