# expect: contained
# attack: bare except: in a busy loop to swallow any in-process timeout signal
# outcome: retry
# error: TimeoutError


def on_track(event, settings):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722
            pass
