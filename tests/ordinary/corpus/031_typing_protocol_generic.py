from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Sender(Protocol):
    def send(self, item: str) -> int: ...


class Box(Generic[T]):
    def __init__(self, item: T) -> None:
        self.item = item

    def get(self) -> T:
        return self.item


class Printer:
    def send(self, item: str) -> int:
        return len(item)


def deliver(sender: Sender, text: str) -> int:
    return sender.send(text)


def on_track(event, settings):
    return {"n": deliver(Printer(), event.event), "box": Box[int](5).get()}
