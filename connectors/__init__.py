"""Provider connectors: verify, parse and normalize what providers send.

No database and no Flask here: every function is pure except `onfido.fetch_check`,
which reads one check over HTTP. `REGISTRY` maps a provider name to its module;
`WEBHOOKS` names the ones that receive signed HTTP deliveries.
"""

from __future__ import annotations

from types import ModuleType

from connectors import bank_camt054, mt5, nowpayments, onfido, stripe, sumsub
from connectors._common import Normalized
from connectors.errors import ConnectorError, FetchFailed, MalformedPayload, SignatureError, UnknownClient

REGISTRY: dict[str, ModuleType] = {
    module.NAME: module for module in (sumsub, onfido, stripe, nowpayments, bank_camt054, mt5)
}
WEBHOOKS = ("sumsub", "onfido", "stripe", "nowpayments")


class UnknownProvider(LookupError):
    """No connector has this name."""


def get(name: str) -> ModuleType:
    """Return the connector module called `name`."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownProvider(f"no connector named {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


__all__ = [
    "REGISTRY",
    "WEBHOOKS",
    "ConnectorError",
    "FetchFailed",
    "MalformedPayload",
    "Normalized",
    "SignatureError",
    "UnknownClient",
    "UnknownProvider",
    "get",
]
