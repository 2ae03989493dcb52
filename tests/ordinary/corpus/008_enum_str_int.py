from enum import IntEnum, StrEnum, auto


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Channel(StrEnum):
    EMAIL = auto()
    SMS = auto()


def on_track(event, settings):
    return {"cmp": Priority.HIGH > Priority.LOW, "sum": Priority.HIGH + 1,
            "channel": Channel.EMAIL.value, "upper": Channel.SMS.upper(),
            "fmt": f"{Channel.EMAIL}-{Priority.LOW.value}"}
