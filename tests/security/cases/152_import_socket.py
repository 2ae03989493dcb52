# expect: invalid
# attack: import socket: raw sockets bypassing fetch's SSRF policy
# line: 4
import socket


def on_track(event, settings):
    return socket.create_connection(("169.254.169.254", 80)).recv(100)
