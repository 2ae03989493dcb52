# expect: invalid
# attack: names of the transformer's temporaries (now _rp0_; _tmp0 is an ordinary name) to clobber an in-place rewrite
# line: 4
_rp0_ = None


def on_track(event, settings):
    counter = {"n": 1}
    counter["n"] += 1
    return {"escaped": True}
