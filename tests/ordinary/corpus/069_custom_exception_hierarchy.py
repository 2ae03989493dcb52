from functions_sdk import RetryError


class SyncError(Exception):
    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class RateLimited(SyncError):
    pass


def classify(code):
    try:
        if code == 429:
            raise RateLimited("slow down", code)
        raise SyncError("bad", code)
    except RateLimited as exc:
        return ["rate", exc.code, str(exc)]
    except SyncError as exc:
        return ["sync", exc.code, exc.args[0]]


def on_track(event, settings):
    return [classify(429), classify(400), issubclass(RetryError, Exception)]
