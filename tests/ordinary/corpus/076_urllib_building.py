from urllib.parse import quote, urlencode, urljoin, urlparse


def on_track(event, settings):
    base = settings["endpoint"]
    url = urljoin(base + "/", "users/" + quote(event.userId)) + "?" + urlencode({"plan": "pro", "n": 2})
    parts = urlparse(url)
    return {"url": url, "host": parts.netloc, "path": parts.path, "query": parts.query}
