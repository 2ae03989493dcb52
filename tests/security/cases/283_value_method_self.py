# expect: contained
# attack: bound methods of value objects: "".join.__self__, [].append.__self__, {}.get.__objclass__
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    owner = getattr("".join, "__self__")
    return {"escaped": True, "o": repr(getattr(owner, "__class__"))}
