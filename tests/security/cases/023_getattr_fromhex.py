# expect: contained
# attack: name hidden as hex (bytes.fromhex) to dodge the compile-time check
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    name = bytes.fromhex("5f5f676c6f62616c735f5f").decode()  # __globals__
    return {"escaped": True, "g": sorted(getattr(on_track, name))}
