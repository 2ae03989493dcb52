# expect: contained
# attack: build "__subclasses__" with str.maketrans/translate, then getattr on object
# outcome: rejected
# error: SandboxAccessError


def on_track(event, settings):
    table = str.maketrans("xyz", "_sb")
    name = "xxyuzclassesxx".translate(table)
    walk = getattr(object, name)
    return {"escaped": True, "n": len(walk())}
