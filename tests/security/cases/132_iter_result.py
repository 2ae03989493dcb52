# expect: contained
# attack: returned object with __iter__/__len__/__next__ that a generic serializer would iterate
# outcome: rejected
# error: ResultError


class Endless:
    def __iter__(self):
        return self

    def __next__(self):
        return "x" * 1000

    def __len__(self):
        return 1


def on_track(event, settings):
    return Endless()
