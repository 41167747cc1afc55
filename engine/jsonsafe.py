"""Parse JSON from outside with a bound on nesting, checked before the parser recurses.

Python's parser recurses once per level: a body of a thousand `[` raises RecursionError
(a 500) or, nested a little less, costs a deep stack for nothing. Real events and API
bodies are a few levels deep, so anything past `MAX_DEPTH` is refused with a clear error.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonError(ValueError):
    """The text is not JSON, or is nested too deeply (the message says which)."""


def nesting(text: str) -> int:
    """The deepest nesting of objects and arrays in `text` (brackets in strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, **kwargs) -> Any:
    """`json.loads` that refuses nesting deeper than `max_depth` first."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError(f"not UTF-8 (byte {exc.start})") from None
    if nesting(text) > max_depth:
        raise JsonError(f"JSON is nested more than {max_depth} levels deep")
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as exc:
        raise JsonError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
