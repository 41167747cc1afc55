"""The errors every connector raises; callers map them to HTTP answers and records."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose; `reason` says what is wrong."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SignatureError(ConnectorError):
    """The delivery is not authentic: missing, malformed, wrong or expired signature."""


class MalformedPayload(ConnectorError):
    """The body is authentic but cannot be used: which field, and what is wrong with it."""


class UnknownClient(ConnectorError):
    """The payload does not name a client we can find (missing or unmapped reference)."""


class FetchFailed(ConnectorError):
    """A follow-up call to the provider failed; keep the delivery and retry later."""

    def __init__(self, reason: str, *, status: int | None = None, retryable: bool = True):
        super().__init__(reason)
        self.status = status
        self.retryable = retryable
