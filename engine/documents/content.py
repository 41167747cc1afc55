"""What a document file really is, read from its first bytes (never from its name).

Staff and clients may send identity documents as photos or scans: JPEG, PNG, WebP,
HEIC and PDF. A file whose content is none of these, or not what it was declared as
(a `.pdf` that is an executable), is refused before anything is stored.
"""

from __future__ import annotations

import filetype

ALLOWED = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "application/pdf": "pdf",
}
# Browsers and phones declare some types under older names.
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}


class ContentRefused(ValueError):
    """The file is refused: the message says what it is and what is accepted."""


def sniff(data: bytes, declared: str | None, max_bytes: int) -> str:
    """Return the file's real content type, or raise ContentRefused."""
    if not data:
        raise ContentRefused("the file is empty")
    if len(data) > max_bytes:
        raise ContentRefused(f"the file is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    kind = filetype.guess(data[:8192])
    actual: str | None = kind.mime if kind else None
    if actual is None or actual not in ALLOWED:
        found = f"its content is {actual}" if actual else "its content is not a known file type"
        raise ContentRefused(f"{found}; accepted: {', '.join(sorted(ALLOWED.values()))}")
    wanted = ALIASES.get((declared or "").lower(), (declared or "").lower())
    if wanted and wanted != "application/octet-stream" and wanted != actual:
        raise ContentRefused(f"it was sent as {declared} but its content is {actual}")
    return actual
