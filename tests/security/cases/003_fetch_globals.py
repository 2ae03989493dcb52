# expect: invalid
# attack: fetch.__globals__ to reach the SDK http module's socket and _context
# line: 8
from functions_sdk import fetch


def on_track(event, settings):
    sock = fetch.__globals__["socket"]
    return str(sock.gethostname())
