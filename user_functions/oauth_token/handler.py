"""Send track events to an API that wants an OAuth bearer token.

The token is fetched once (client-credentials grant), kept in the instance's store with
its lifetime less a margin, and reused by every later event: the token endpoint is hit
again only when the stored token has expired, or when the API says it is no longer
valid (401).
"""

from functions_sdk import RetryError, Settings, TrackEvent, fetch, store

TOKEN_KEY = "oauth_token"
MARGIN_SECONDS = 60


def access_token(settings: Settings) -> str:
    token = store.get(TOKEN_KEY)
    if token is not None:
        return str(token)
    response = fetch(
        settings.get_str("token_url"),
        method="POST",
        json={
            "grant_type": "client_credentials",
            "client_id": settings.get_str("client_id"),
            "client_secret": settings.get_str("client_secret"),
        },
        retry_on_status=True,
    )
    if not response.ok:
        raise RetryError(f"the token endpoint answered {response.status}")
    body = response.json()
    token = str(body["access_token"])
    lifetime = int(body.get("expires_in", 3600))
    store.set(TOKEN_KEY, token, ttl=max(lifetime - MARGIN_SECONDS, 1))
    return token


def on_track(event: TrackEvent, settings: Settings) -> None:
    response = fetch(
        settings.get_str("api_url"),
        method="POST",
        headers={"Authorization": f"Bearer {access_token(settings)}"},
        json={"event": event.event, "userId": event.userId, "properties": event.properties},
        retry_on_status=True,
    )
    if response.status == 401:
        store.delete(TOKEN_KEY)  # revoked early: the next attempt fetches a new one
        raise RetryError("the API refused the token")
    if not response.ok:
        raise RetryError(f"the API answered {response.status}")
    store.incr("sent")
