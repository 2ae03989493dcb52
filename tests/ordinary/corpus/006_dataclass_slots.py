from dataclasses import dataclass


@dataclass(slots=True)
class Point:
    x: int
    y: int

    def norm1(self):
        return abs(self.x) + abs(self.y)


def on_track(event, settings):
    p = Point(3, -4)
    try:
        p.z = 1
        slotted = False
    except AttributeError:
        slotted = True
    return {"norm": p.norm1(), "slotted": slotted}
