from abc import ABC, abstractmethod


class Sink(ABC):
    @abstractmethod
    def send(self, payload):
        ...

    def deliver(self, payload):
        return {"sent": self.send(payload)}


class Webhook(Sink):
    def send(self, payload):
        return len(payload)


def on_track(event, settings):
    try:
        Sink()
        abstract = False
    except TypeError:
        abstract = True
    return {"abstract": abstract, "out": Webhook().deliver("abc"), "isinst": isinstance(Webhook(), Sink)}
