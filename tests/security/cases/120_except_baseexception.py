# expect: contained
# attack: except BaseException to swallow the runtime's own control-flow exceptions
# outcome: rejected
# error: NameError


def on_track(event, settings):
    try:
        raise ValueError("x")
    except BaseException:
        return {"escaped": True}
