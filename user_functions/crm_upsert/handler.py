"""CRM upsert: contacts from identify, activities from track, companies from group.

Requests (all with ``Authorization: Bearer <api_key>``, JSON in and out):

==========  ==================================================================
identify    ``POST {api_base}/contacts/upsert``: the contact, keyed by
            ``traits.email`` (required: without it the event is rejected).
track       ``POST {api_base}/activities``: the event as an activity. The contact
            is the one the upsert answers with when ``context.traits.email`` is
            set (one upsert first), else the ``userId`` as external id. Anonymous
            track events (no userId, no email) are filtered. The ``messageId`` is
            sent as ``Idempotency-Key`` so a retried event is not logged twice.
group       ``POST {api_base}/companies/upsert``: the company, keyed by ``groupId``.
delete      ``DELETE {api_base}/contacts/external/{userId}``: a 404 means the
            contact is already gone, which counts as delivered.
==========  ==================================================================

429 and 5xx answers are retried (``fetch(..., retry_on_status=True)``), as are
connection failures. 401 / 403 and other 4xx answers reject the event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from functions_sdk import (
    BaseEvent,
    DeleteEvent,
    EventNotSupported,
    FetchError,
    GroupEvent,
    IdentifyEvent,
    InvalidEventPayload,
    Response,
    Settings,
    TrackEvent,
    ValidationError,
    fetch,
    logger,
)


def api_url(settings: Settings, path: str) -> str:
    """``{api_base}/{path}``, whatever slashes ``api_base`` ends with."""
    return settings.get_str("api_base").rstrip("/") + "/" + path


def _headers(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {
        "Authorization": "Bearer " + settings.get_str("api_key"),
        "Accept": "application/json",
    }
    headers.update(extra or {})
    return headers


def _answer(response: Response) -> dict[str, Any]:
    """The JSON object the CRM answered with, or ``{}`` when the body is not one."""
    if not response.text.strip():
        return {}
    try:
        data = response.json()
    except FetchError:
        return {}
    return data if isinstance(data, dict) else {}


def _check(response: Response, what: str) -> dict[str, Any]:
    """Reject a non-2xx answer (429 / 5xx were already raised as RetryError)."""
    if response.ok:
        return _answer(response)
    status = response.status
    if status in (401, 403):
        raise ValidationError(f"the CRM refused the api_key ({status}) when {what}")
    reason = _answer(response).get("error") or response.text[:200]
    raise ValidationError(f"the CRM answered {status} when {what}: {reason}")


def _send(
    settings: Settings,
    method: str,
    path: str,
    body: Any = None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    return fetch(
        api_url(settings, path),
        method=method,
        headers=_headers(settings, extra_headers),
        json=body,
        retry_on_status=True,
    )


def email_of(traits: dict[str, Any]) -> str | None:
    """``traits.email`` when it looks like an email address, else None."""
    email = traits.get("email")
    if isinstance(email, str) and "@" in email.strip():
        return email.strip().lower()
    return None


def contact_body(event: BaseEvent, email: str, traits: dict[str, Any]) -> dict[str, Any]:
    """The upsert body: keys without a value are left out, so they do not blank the CRM's."""
    body: dict[str, Any] = {"email": email}
    if event.userId:
        body["externalId"] = event.userId
    if event.anonymousId:
        body["anonymousId"] = event.anonymousId
    properties = {k: v for k, v in traits.items() if k != "email"}
    if properties:
        body["properties"] = properties
    return body


def _upsert_contact(
    event: BaseEvent, email: str, traits: dict[str, Any], settings: Settings
) -> str | None:
    what = "upserting the contact"
    response = _send(settings, "POST", "contacts/upsert", contact_body(event, email, traits))
    contact_id = _check(response, what).get("id")
    return str(contact_id) if contact_id is not None else None


def _iso(event: BaseEvent) -> str | None:
    stamp = event.timestamp or event.originalTimestamp or event.receivedAt
    return stamp.isoformat() if stamp is not None else None


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, Any]:
    email = email_of(event.traits)
    if email is None:
        raise InvalidEventPayload(
            "identify needs traits.email (an email address) to upsert a CRM contact"
        )
    contact_id = _upsert_contact(event, email, event.traits, settings)
    logger.info("contact %s upserted", contact_id)
    return {"contact_id": contact_id}


def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
    context = event.context or {}
    context_traits = context.get("traits")
    email = email_of(context_traits) if isinstance(context_traits, dict) else None
    contact: dict[str, Any]
    if email is not None:
        contact_id = _upsert_contact(event, email, {"email": email}, settings)
        if contact_id is not None:
            contact = {"contactId": contact_id}
        elif event.userId:
            contact = {"contactExternalId": event.userId}
        else:
            raise ValidationError("the CRM's contact upsert answered without an id")
    elif event.userId:
        contact = {"contactExternalId": event.userId}
    else:
        raise EventNotSupported(
            "anonymous track events are not sent: the CRM needs a userId or context.traits.email"
        )
    activity = {
        **contact,
        "type": "event",
        "name": event.event,
        "occurredAt": _iso(event),
        "properties": event.properties,
        "messageId": event.messageId,
    }
    extra = {"Idempotency-Key": event.messageId} if event.messageId else None
    what = "logging the activity"
    answer = _check(_send(settings, "POST", "activities", activity, extra), what)
    return {**contact, "activity_id": answer.get("id")}


def on_group(event: GroupEvent, settings: Settings) -> dict[str, Any]:
    name = event.traits.get("name")
    company = {
        "externalId": event.groupId,
        "name": name if isinstance(name, str) and name else event.groupId,
        "properties": {k: v for k, v in event.traits.items() if k != "name"},
        "contactExternalId": event.userId,
    }
    what = "upserting the company"
    answer = _check(_send(settings, "POST", "companies/upsert", company), what)
    return {"company_id": answer.get("id")}


def on_delete(event: DeleteEvent, settings: Settings) -> dict[str, Any]:
    path = "contacts/external/" + quote(event.userId, safe="")
    response = _send(settings, "DELETE", path)
    if response.status == 404:
        logger.info("contact %s was not in the CRM: nothing to delete", event.userId)
        return {"deleted": False, "status": 404}
    _check(response, "deleting the contact")
    return {"deleted": True, "status": response.status}
