# expect: contained
# attack: collections.abc (ABC registry: register() poisons isinstance for everyone)
# outcome: rejected
# error: SandboxAccessError
import collections


def on_track(event, settings):
    abc = collections.abc
    abc.Mapping.register(list)
    return {"escaped": True}
