import base64


def on_track(event, settings):
    raw = f"{settings['api_key']}:".encode()
    token = base64.b64encode(raw).decode("ascii")
    return {"basic": "Basic " + token, "back": base64.b64decode(token).decode(),
            "hex": raw.hex()[:6], "upper": bytes(b"ab").upper().decode()}
