from abc import ABC, abstractmethod


class Destination(ABC):
    @property
    @abstractmethod
    def name(self):
        ...

    def describe(self):
        return f"-> {self.name}"


class Slack(Destination):
    @property
    def name(self):
        return "slack"


def on_track(event, settings):
    return {"d": Slack().describe()}
