"""Which currencies exist and how many decimals (minor units) each has.

Fiat: ISO 4217 from the Unicode CLDR data shipped in **Babel** (PyPI `Babel`, the
maintained i18n library: `babel.numbers.list_currencies` and `get_currency_precision`:
JPY 0, USD 2, KWD 3). The ISO codes that are not money a client pays in (XXX "no
currency", XTS "testing", bond units, SDR, metals) are refused.
Crypto: a configured list `CODE:decimals,...` in `FXCRM_CRYPTO_CURRENCIES` (default
below); at most 8 decimals, the precision amounts are stored with.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

STORED_DECIMALS = 8  # engine.types.Amount keeps 8 decimals
DEFAULT_CRYPTO = "BTC:8,ETH:8,LTC:8,XRP:6,SOL:8,TRX:6,BCH:8"
# ISO 4217 codes that are not a currency a client deposits or withdraws.
NOT_MONEY = frozenset(
    {
        "XXX",
        "XTS",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XDR",
        "XSU",
        "XUA",
        "XFO",
        "XFU",
        "XRE",
        "XEU",
        "XAU",
        "XAG",
        "XPD",
        "XPT",
        "XAD",
    }
)


@lru_cache(maxsize=1)
def _fiat() -> dict[str, int]:
    return {
        code: get_currency_precision(code) for code in list_currencies() if len(code) == 3 and code not in NOT_MONEY
    }


def _crypto(setting: str) -> dict[str, int]:
    out = {}
    for item in filter(None, (part.strip() for part in setting.split(","))):
        code, _, digits = item.partition(":")
        out[code.strip().upper()] = min(int(digits or STORED_DECIMALS), STORED_DECIMALS)
    return out


@lru_cache(maxsize=4)
def _crypto_for(setting: str) -> dict[str, int]:
    return _crypto(setting)


def crypto() -> dict[str, int]:
    """The configured crypto currencies and their decimals."""
    return _crypto_for(os.environ.get("FXCRM_CRYPTO_CURRENCIES", DEFAULT_CRYPTO))


def minor_units(code: str) -> int | None:
    """Decimals of `code` (JPY 0, USD 2, KWD 3, BTC 8), or None for an unknown currency."""
    code = (code or "").upper()
    found = crypto().get(code)
    return found if found is not None else _fiat().get(code)


def amount_text(amount: Decimal, code: str) -> str:
    """`amount` as people read it. One read from storage (8 decimals) shows the currency's
    minor units when that drops only zeros (`200.00000000` USD is `200.00`), else its
    digits without trailing zeros (`0.01500000` USD is `0.015`); any other amount keeps
    the digits it was written or computed with (`100`, `10000.5`)."""
    if decimals_of(amount) < STORED_DECIMALS:
        return str(amount)
    places = minor_units(code)
    if places is not None:
        shown = amount.quantize(Decimal(1).scaleb(-places))
        if shown == amount:
            return str(shown)
    return stored_decimal_text(amount)


def stored_decimal_text(value: Decimal) -> str:
    """A decimal read from storage (8 decimals) without its trailing zeros: `2.50000000`
    lots is `2.5`; a value with fewer decimals keeps the digits it was written with."""
    if decimals_of(value) < STORED_DECIMALS:
        return str(value)
    return format(value.normalize(), "f") if value else "0"


def is_known(code: str) -> bool:
    """Whether `code` is an ISO 4217 currency or a configured crypto currency."""
    return minor_units(code) is not None


def decimals_of(amount: Decimal) -> int:
    """How many decimals an amount is written with (`200.50` has 2, `200.555` has 3)."""
    exponent = amount.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
