"""IB errors."""


class IbError(ValueError):
    """An IB operation is not allowed (the message says why)."""
