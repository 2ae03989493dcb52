# expect: invalid
# attack: match/case class patterns read attributes natively (case object(__class__=c))
# line: 8


def on_track(event, settings):
    match event:
        case object(__class__=cls):
            return repr(cls)
    return None
