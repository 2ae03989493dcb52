from dataclasses import dataclass, fields


@dataclass(order=True)
class Version:
    major: int
    minor: int


def on_track(event, settings):
    versions = sorted([Version(2, 1), Version(1, 9), Version(2, 0)])
    return {
        "sorted": [f"{v.major}.{v.minor}" for v in versions],
        "fields": [f.name for f in fields(Version(0, 0))],
    }
