# expect: contained
# attack: SSRF sweep catching every refusal and trying the next internal address
# outcome: delivered
# error: none
from functions_sdk import FetchError, RetryError, fetch

TARGETS = ["http://127.0.0.1:48081/", "http://[::1]:48081/", "http://127.0.0.2:48081/",
           "http://192.168.0.1/", "http://172.16.0.1/", "http://169.254.0.1/",
           "http://[fe80::1]/", "http://224.0.0.1/", "http://240.0.0.1/", "http://100.64.0.1/",
           "http://[::]:48081/", "http://0:48081/", "http://[::ffff:a9fe:a9fe]/"]


def on_track(event, settings):
    reached = []
    blocked = 0
    for url in TARGETS:
        try:
            fetch(url, timeout=0.5)
            reached.append(url)
        except FetchError:
            blocked += 1
        except RetryError:
            reached.append("connection attempted: " + url)
    return {"escaped": len(reached) > 0, "reached": reached, "blocked": blocked}
