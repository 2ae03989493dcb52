"""Source functions' webhook tokens: the secret in ``POST /v1/webhooks/{token}``.

A source id is no secret (every event carries it as ``projectId`` to every
destination), so a webhook URL is a token of its own: ``whk.<source id>.<random>``,
stored as a SHA-256 hash on the source, shown once, and replaced by rotating it (the
old token stops working at once). A source has no token, and no webhook, until one
is issued.
"""

from __future__ import annotations

import hmac

from .auth import Principal, hash_key, new_secret
from .errors import ServiceError
from .models import AuditEntry, Source, new_id
from .ports import MetadataStore, NotFoundError
from .service import ControlPlane

__all__ = ["WEBHOOK_PREFIX", "rotate_webhook_token", "source_for_webhook"]

WEBHOOK_PREFIX = "whk."


def rotate_webhook_token(
    plane: ControlPlane, who: Principal, ws: str, ident: str
) -> tuple[Source, str]:
    """Issue a new webhook token for the source (by id or name); the old one is void."""
    source = plane.find_source(ws, ident)
    token = new_secret(f"{WEBHOOK_PREFIX}{source.id}.")
    updated = source.model_copy(update={"webhook_token_hash": hash_key(token)})
    try:
        plane.store.update_source(updated)
    except NotFoundError:
        raise ServiceError(404, "not_found", f"no source {ident!r}") from None
    plane.store.append_audit(
        AuditEntry(
            id=new_id("au"),
            workspace_id=ws,
            actor=who.key_id,
            action="source.webhook_rotate",
            target=source.id,
            at=plane.clock(),
        )
    )
    return updated, token


def source_for_webhook(store: MetadataStore, token: str) -> Source | None:
    """The source whose current webhook token is ``token``, or None."""
    prefix, _, rest = token.partition(".")
    source_id, _, secret = rest.partition(".")
    if f"{prefix}." != WEBHOOK_PREFIX or not source_id or not secret:
        return None
    for workspace in store.list_workspaces():
        source = store.get_source(workspace.id, source_id)
        if source is not None:
            if source.deleted_at is not None:
                return None
            expected = source.webhook_token_hash or ""
            return source if hmac.compare_digest(expected, hash_key(token)) else None
    return None
