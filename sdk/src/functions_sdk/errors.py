"""The SDK's exception tree.

Every error a handler can raise to steer the outcome of a delivery derives from
:class:`FunctionError`. The outcome each one leads to is fixed:

=====================  ==========  ==========================================
raise                  outcome     meaning
=====================  ==========  ==========================================
``DropEvent``          filtered    deliberately not delivered (insert functions)
``EventNotSupported``  filtered    this function does not handle the event
``InvalidEventPayload`` rejected   the event lacks what the handler needs
``ValidationError``    rejected    the event or settings failed a check
``RetryError``         retry       transient failure: try again later
``RequestBlocked``     rejected    ``fetch`` refused the address (policy)
``FetchError``         rejected    ``fetch`` failed for good (e.g. too large)
``StoreError``         rejected    a ``store`` call broke a limit or had a bad key/value
=====================  ==========  ==========================================

Any other uncaught exception is ``rejected`` (fail closed). Timeouts and resource
limits (memory, CPU, recursion) are ``retry``.
"""

from __future__ import annotations

__all__ = [
    "DropEvent",
    "EventNotSupported",
    "FetchError",
    "FunctionError",
    "InvalidEventPayload",
    "RequestBlocked",
    "RetryError",
    "StoreError",
    "ValidationError",
]


class FunctionError(Exception):
    """Base class of every error the SDK defines. Catch this, not ``Exception``."""

    outcome: str = "rejected"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        # The message as given at construction (``args``), never ``self.message``: a
        # subclass may make ``message`` a property, and ``str()`` of an error must not
        # run its code (the runtime reads errors after the handler returned).
        return Exception.__str__(self)


class DropEvent(FunctionError):
    """Raise to drop the event on purpose (insert functions). Outcome: ``filtered``."""

    outcome = "filtered"


class EventNotSupported(FunctionError):
    """Raise when the function does not handle this event. Outcome: ``filtered``."""

    outcome = "filtered"


class InvalidEventPayload(FunctionError):
    """Raise when the event lacks data the handler needs. Outcome: ``rejected``."""

    outcome = "rejected"


class ValidationError(FunctionError):
    """Raise when the event or the settings fail a check. Outcome: ``rejected``."""

    outcome = "rejected"


class RetryError(FunctionError):
    """Raise for a transient failure; the event is retried with backoff. Outcome: ``retry``.

    ``fetch(..., retry_on_status=True)`` raises it for 429 and 5xx answers, and
    ``fetch`` always raises it for connection failures and timeouts.
    """

    outcome = "retry"

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FetchError(FunctionError):
    """``fetch`` failed in a way retrying will not fix (bad URL, response too large)."""

    outcome = "rejected"


class RequestBlocked(FetchError):
    """``fetch`` refused the destination: loopback, private, link-local or metadata
    addresses need the operator's permission (``FUNCTIONS_HTTP_ALLOW`` / ``--allow-host``)."""

    outcome = "rejected"


class StoreError(FunctionError):
    """A :mod:`functions_sdk.store` call was refused: a key or value that is not allowed
    (not text, too long, not JSON, nested too deep, NaN), or a size limit of the
    instance's store reached. Outcome: ``rejected`` (a store that cannot be reached is a
    :class:`RetryError` instead)."""

    outcome = "rejected"
