from dataclasses import dataclass


@dataclass
class Created:
    id: str


@dataclass
class Deleted:
    id: str
    hard: bool = False


def handle(change):
    match change:
        case Created(id=i):
            return f"create {i}"
        case Deleted(i, hard=True):
            return f"purge {i}"
        case Deleted(id=i):
            return f"archive {i}"
        case int() | float():
            return "number"


def on_track(event, settings):
    return [handle(Created("a")), handle(Deleted("b", True)), handle(Deleted("c")), handle(2.5)]
