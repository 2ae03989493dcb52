# expect: contained
# attack: non-HTTP schemes (file://, gopher://, ftp://) and header/CRLF smuggling in fetch
# outcome: delivered
# error: none
from functions_sdk import FetchError, fetch

URLS = ["file:///etc/passwd", "gopher://127.0.0.1:48081/_GET", "ftp://127.0.0.1/",
        "http://127.0.0.1:48081\r\nX-Injected: 1/", "dict://127.0.0.1:48081/", "//127.0.0.1:48081/"]


def on_track(event, settings):
    reached = []
    for url in URLS:
        try:
            fetch(url, timeout=0.5)
            reached.append(url)
        except FetchError:
            pass
    try:
        fetch("http://127.0.0.1:48081/", headers={"Host": "example.com"}, timeout=0.5)
        reached.append("host header")
    except FetchError:
        pass
    return {"escaped": len(reached) > 0, "reached": reached}
