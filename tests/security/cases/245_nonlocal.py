# expect: invalid
# attack: nonlocal (available since issue 13) rebinding a guard name the function closes over
# line: 10


def on_track(event, settings):
    _getattr_ = getattr

    def bump():
        nonlocal _getattr_
        _getattr_ = None

    bump()
    return {"escaped": True}
