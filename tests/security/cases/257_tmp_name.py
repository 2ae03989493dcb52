# expect: invalid
# attack: names of the transformer's temporaries (_tmp0) to clobber an in-place rewrite
# line: 4
_tmp0 = None


def on_track(event, settings):
    return {"escaped": True}
