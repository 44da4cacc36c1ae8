"""Domain errors. Each carries a contract error code; the HTTP and WebSocket layers map it."""

from __future__ import annotations

HTTP_STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unprocessable": 422,
    "edit_window_expired": 403,
    "rate_limited": 429,
    "unavailable": 503,
}


class DomainError(Exception):
    """A refusal with a contract error code and a human message (never user secrets)."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)


class Invalid(DomainError):
    code = "invalid"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class TooLarge(DomainError):
    code = "too_large"


class EditWindowExpired(DomainError):
    code = "edit_window_expired"


class RateLimited(DomainError):
    code = "rate_limited"
