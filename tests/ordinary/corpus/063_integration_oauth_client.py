"""An OAuth-style client class used as a context manager (no network: the token
exchange is simulated so that both runs agree)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class AuthError(Exception):
    pass


class OAuthClient:
    def __init__(self, client_id: str, secret: str, clock=time.time) -> None:
        self.client_id = client_id
        self._secret = secret
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.calls: list[str] = []
        self.closed = False

    def __enter__(self) -> "OAuthClient":
        self._authenticate()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.closed = True
        self._token = None
        return False

    def _authenticate(self) -> None:
        issued = 1_700_000_000
        claims = json.dumps({"sub": self.client_id, "iat": issued}, sort_keys=True)
        sig = hmac.new(self._secret.encode(), claims.encode(), hashlib.sha256).hexdigest()[:16]
        self._token = base64.urlsafe_b64encode(f"{claims}.{sig}".encode()).decode()
        self._expires_at = issued + 3600
        self.calls.append("token")

    @property
    def authorization(self) -> str:
        if self._token is None:
            raise AuthError("not authenticated")
        return f"Bearer {self._token[:12]}"

    def request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(f"{method} {path}")
        return {"method": method, "path": path, "auth": self.authorization, "body": body}


def on_track(event, settings):
    with OAuthClient("svc-1", settings["api_key"]) as client:
        sent = client.request("POST", "/events", {"event": event.event, "user": event.userId})
    try:
        client.authorization
        after = "still valid"
    except AuthError as exc:
        after = str(exc)
    return {"sent": sent, "calls": client.calls, "closed": client.closed, "after": after}
