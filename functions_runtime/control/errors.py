"""Errors the control plane raises; the API maps each to a status and a JSON body."""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """``{"error": {"code", "message"}}`` with an HTTP status; ``problems`` lists details."""

    def __init__(
        self, status: int, code: str, message: str, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.problems:
            error["problems"] = self.problems
        return {"error": error}


def not_found(what: str, ident: str) -> ServiceError:
    return ServiceError(404, "not_found", f"{what} {ident!r} does not exist in this workspace")


def bad_request(message: str, problems: list[str] | None = None) -> ServiceError:
    return ServiceError(400, "bad_request", message, problems)


def invalid(message: str, problems: list[str]) -> ServiceError:
    return ServiceError(422, "validation_failed", message, problems)


def conflict(message: str) -> ServiceError:
    return ServiceError(409, "conflict", message)
