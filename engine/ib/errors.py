"""IB errors."""

from engine.errors import Conflict


class IbError(ValueError):
    """An IB operation is not allowed (the message says why)."""


class IbConflict(IbError, Conflict):
    """Someone else decided the commission or paid the batch first."""
