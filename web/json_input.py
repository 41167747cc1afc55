"""Read a JSON request body through the same guard as every other input.

Nesting is bounded before parsing (engine.jsonsafe), the size by MAX_CONTENT_LENGTH, and
fields an action reads as text must be text: a number or object where a string belongs
answers 400 naming the field, never a 500 further down.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request

from engine import jsonsafe


def json_body() -> Any:
    """Return the parsed JSON body (None when there is none or it is not JSON-typed)."""
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return jsonsafe.loads(raw)
    except jsonsafe.JsonError as exc:
        abort(400, description=f"the body must be JSON nested at most {jsonsafe.MAX_DEPTH} deep: {exc}")


def text_fields(body: dict, lists: tuple[str, ...] = ()) -> dict:
    """Refuse a body whose fields are not text (or, for `lists`, lists of text)."""
    for name, value in body.items():
        if name in lists and isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            abort(400, description=f"{name}: must be text, not {kind}")
    return body
