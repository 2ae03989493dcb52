# expect: invalid
# attack: import urllib.request (urlopen: unrestricted network, file:// URLs)
# line: 4
import urllib.request


def on_track(event, settings):
    return urllib.request.urlopen("file:///proc/self/environ").read().decode()
