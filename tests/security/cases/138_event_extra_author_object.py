# expect: contained
# attack: plant an author object (with __iter__/__eq__) in an event field and return the event
# outcome: rejected
# error: PydanticSerializationError


class Payload:
    def __iter__(self):
        return iter(["a"])

    def __eq__(self, other):
        return True

    def __hash__(self):
        return 1


def on_track(event, settings):
    event.smuggled = Payload()
    return event
