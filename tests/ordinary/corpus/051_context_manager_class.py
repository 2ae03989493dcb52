class Timer:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.log.append(f"exit {exc_type.__name__ if exc_type else None}")
        return exc_type is KeyError


def on_track(event, settings):
    log = []
    with Timer(log) as t:
        log.append(type(t).__name__)
    with Timer(log):
        raise KeyError("swallowed")
    try:
        with Timer(log):
            raise ValueError("kept")
    except ValueError as exc:
        log.append(str(exc))
    return log
