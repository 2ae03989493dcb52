# expect: invalid
# attack: breakpoint() (pdb reads stdin / exposes frames)
# line: 7


def on_track(event, settings):
    breakpoint()
    return None
