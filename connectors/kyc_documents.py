"""Document files from the KYC providers' documented download APIs (Onfido, Sumsub).

Each provider lists an applicant's documents and serves each file's bytes. We read
both with the broker's API credentials, from a base URL in configuration (never from
a payload), with a size cap, and describe each file as a `ProviderFile`; mapping the
provider's document kinds to ours happens here, so the rest sees one shape.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

from connectors.errors import FetchFailed

ONFIDO_BASE_URL = "https://api.onfido.com"
ONFIDO_VERSION = "v3.6"
SUMSUB_BASE_URL = "https://api.sumsub.com"

# Provider document kinds -> the broker's document types (engine.events.catalogue).
ONFIDO_TYPES = {
    "passport": "id",
    "driving_licence": "id",
    "national_identity_card": "id",
    "residence_permit": "id",
    "voter_id": "id",
    "utility_bill": "proof_of_address",
    "bank_building_society_statement": "proof_of_address",
    "council_tax": "proof_of_address",
    "benefit_letters": "proof_of_address",
}
SUMSUB_TYPES = {
    "PASSPORT": "id",
    "ID_CARD": "id",
    "DRIVERS": "id",
    "RESIDENCE_PERMIT": "id",
    "UTILITY_BILL": "proof_of_address",
    "UTILITY_BILL2": "proof_of_address",
    "BANK_STATEMENT": "proof_of_address",
    "SELFIE": "selfie",
    "COMPANY_DOC": "incorporation",
    "INCOME_SOURCE": "source_of_funds",
}


@dataclass(frozen=True)
class ProviderFile:
    provider: str
    file_id: str  # the provider's id of the file (Onfido document, Sumsub image)
    document_type: str | None  # ours, or None when the broker does not track that kind
    kind: str  # the provider's own kind, for the report
    file_name: str | None
    content_type: str | None
    added_at: datetime | None  # when the client gave it to the provider


def _get(url: str, headers: dict[str, str], *, what: str, max_bytes: int, timeout: float) -> tuple[bytes, str | None]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise FetchFailed(
            f"GET {what}: HTTP {exc.code}", status=exc.code, retryable=exc.code == 429 or exc.code >= 500
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise FetchFailed(f"GET {what}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
    if len(body) > max_bytes:
        raise FetchFailed(f"GET {what}: larger than {max_bytes:,} bytes", retryable=False)
    return body, kind


def _json(body: bytes, what: str) -> dict:
    try:
        found = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchFailed(f"GET {what}: the answer is not JSON", retryable=False) from None
    if not isinstance(found, dict):
        raise FetchFailed(f"GET {what}: the answer is not a JSON object", retryable=False)
    return found


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Onfido:
    """Onfido v3.6: GET /documents?applicant_id=..., GET /documents/{id}/download."""

    name = "onfido"

    def __init__(self, *, token: str, base_url: str | None = None, timeout: float = 20.0):
        self.base = (base_url or ONFIDO_BASE_URL).rstrip("/") + "/" + ONFIDO_VERSION
        self.headers = {"Authorization": f"Token token={token}"}
        self.timeout = timeout

    def list_files(self, applicant_id: str) -> list[ProviderFile]:
        url = f"{self.base}/documents?applicant_id={_quoted(applicant_id)}"
        body, _ = _get(
            url,
            {**self.headers, "Accept": "application/json"},
            what=f"documents of applicant {applicant_id[:60]}",
            max_bytes=2_000_000,
            timeout=self.timeout,
        )
        documents = _json(body, "documents").get("documents")
        if not isinstance(documents, list):
            raise FetchFailed("GET documents: no `documents` list in the answer", retryable=False)
        return [
            ProviderFile(
                self.name,
                str(d["id"]),
                ONFIDO_TYPES.get(str(d.get("type"))),
                str(d.get("type")),
                d.get("file_name"),
                _onfido_type(d.get("file_type")),
                _time(d.get("created_at")),
            )
            for d in documents
            if isinstance(d, dict) and d.get("id")
        ]

    def download(self, applicant_id: str, file: ProviderFile, max_bytes: int) -> tuple[bytes, str | None]:
        url = f"{self.base}/documents/{_quoted(file.file_id)}/download"
        return _get(url, self.headers, what=f"document {file.file_id[:60]}", max_bytes=max_bytes, timeout=self.timeout)


def _time(text) -> datetime | None:
    """Read a provider's time ("2026-11-02T10:00:00Z", "2026-11-02 10:00:00"); None if unreadable."""
    try:
        found = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)


def _onfido_type(file_type) -> str | None:
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}.get(
        str(file_type or "").lower()
    )


class Sumsub:
    """Sumsub: the applicant by external user id, its images' metadata, each image.

    Requests are signed: X-App-Access-Sig is the hex HMAC-SHA256, with the app's
    secret key, of timestamp + method + path with query + body.
    """

    name = "sumsub"

    def __init__(self, *, token: str, secret: str, base_url: str | None = None, timeout: float = 20.0, clock=time.time):
        self.base, self.token, self.secret = (base_url or SUMSUB_BASE_URL).rstrip("/"), token, secret
        self.timeout, self.clock = timeout, clock

    def signed(self, path: str, method: str = "GET", body: bytes = b"") -> dict[str, str]:
        stamp = str(int(self.clock()))
        signature = hmac.new(
            self.secret.encode(), stamp.encode() + method.encode() + path.encode() + body, hashlib.sha256
        ).hexdigest()
        return {
            "X-App-Token": self.token,
            "X-App-Access-Ts": stamp,
            "X-App-Access-Sig": signature,
            "Accept": "application/json",
        }

    def _json_at(self, path: str, what: str) -> dict:
        body, _ = _get(self.base + path, self.signed(path), what=what, max_bytes=2_000_000, timeout=self.timeout)
        return _json(body, what)

    def applicant_id(self, client_ref: str) -> str:
        """Return the applicant whose externalUserId is the client's ref."""
        found = self._json_at(
            f"/resources/applicants/-;externalUserId={_quoted(client_ref)}/one", f"applicant of {client_ref[:60]}"
        )
        if not found.get("id"):
            raise FetchFailed("GET applicant: no `id` in the answer", retryable=False)
        return str(found["id"])

    def list_files(self, applicant_id: str) -> list[ProviderFile]:
        path = f"/resources/applicants/{_quoted(applicant_id)}/metadata/resources"
        items = self._json_at(path, f"images of applicant {applicant_id[:60]}").get("items")
        if not isinstance(items, list):
            raise FetchFailed("GET images: no `items` list in the answer", retryable=False)
        out = []
        for item in items:
            if not isinstance(item, dict) or not item.get("id") or item.get("deactivated"):
                continue
            kind = str((item.get("idDocDef") or {}).get("idDocType") or "")
            meta = item.get("fileMetadata") or {}
            out.append(
                ProviderFile(
                    self.name,
                    str(item["id"]),
                    SUMSUB_TYPES.get(kind),
                    kind,
                    meta.get("fileName"),
                    None,
                    _time(item.get("addedDate")),
                )
            )
        return out

    def download(self, applicant_id: str, file: ProviderFile, max_bytes: int) -> tuple[bytes, str | None]:
        path = f"/resources/applicants/{_quoted(applicant_id)}/resources/{_quoted(file.file_id)}"
        headers = {k: v for k, v in self.signed(path).items() if k != "Accept"}
        return _get(
            self.base + path, headers, what=f"image {file.file_id[:60]}", max_bytes=max_bytes, timeout=self.timeout
        )
