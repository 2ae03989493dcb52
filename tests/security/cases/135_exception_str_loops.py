# expect: contained
# attack: raise an exception whose __str__ never returns, so formatting the error hangs the host
# outcome: retry
# error: TimeoutError


class Hang(Exception):
    def __str__(self):
        while True:
            pass


def on_track(event, settings):
    raise Hang()
