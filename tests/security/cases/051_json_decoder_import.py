# expect: invalid
# attack: from json import decoder / scanner; json.decoder.sys.modules["os"]
# line: 4
from json import decoder


def on_track(event, settings):
    return str(decoder.sys.modules["os"].environ)
