"""JavaScript's `JSON.stringify(params, Object.keys(params).sort())`, byte for byte.

NOWPayments signs that string, so it is reproduced exactly: numbers are IEEE doubles
printed by Number.prototype.toString, the sorted top-level key list is also the
filter and order for every nested object, and strings are escaped as ES2019 does.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def parse(text: str) -> Any:
    """Parse JSON the way JSON.parse does: every number becomes a double."""
    return json.loads(text, parse_int=float, parse_float=float)


def stringify_sorted(params: dict) -> str:
    """Return JSON.stringify(params, Object.keys(params).sort())."""
    # Array.prototype.sort compares UTF-16 code units, not code points.
    keys = sorted(params, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
    return _value(params, keys)


def _value(value: Any, keys: list[str]) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (int, float, Decimal)):
        return number(float(value))
    if isinstance(value, list):
        return "[" + ",".join(_value(item, keys) for item in value) + "]"
    # An array replacer keeps only the listed keys, in list order, at every depth.
    return "{" + ",".join(f"{quote(k)}:{_value(value[k], keys)}" for k in keys if k in value) + "}"


def quote(text: str) -> str:
    """Quote a string as JSON.stringify does (lone surrogates escaped, U+2028 kept)."""
    out = []
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def number(value: float) -> str:
    """Format a double as Number.prototype.toString (ECMA-262 Number::toString)."""
    if not math.isfinite(value):
        return "null"  # JSON.stringify writes NaN and Infinity as null
    if value == 0:
        return "0"
    if value < 0:
        return "-" + number(-value)
    # repr() gives the shortest digits that round-trip, as the spec asks for.
    sign_, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent += len(digits) - len(text)
    k, n = len(text), exponent + len(text)
    if k <= n <= 21:
        return text + "0" * (n - k)
    if 0 < n <= 21:
        return text[:n] + "." + text[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + text
    mantissa = text if k == 1 else text[0] + "." + text[1:]
    return f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
