"""Where document files live: a folder on this machine or an S3-compatible bucket.

Both stores take opaque keys made by the documents service (random, never a client's
file name), so a key says nothing and a file is reached only through the service,
after a role check. A folder store writes files readable by this user only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

if TYPE_CHECKING:
    from engine.config import Config

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,100}$")


class StorageError(RuntimeError):
    """The store could not keep or give back a file (the message says which and why)."""


class FileStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise StorageError(f"bad storage key {key!r}")
    return key


class FolderStore:
    """Files under one folder, two-level fan-out by key, mode 0600."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(".part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)  # a reader never sees half a file

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"document file {key} is missing from {self.root}") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class _S3Body(Protocol):
    def read(self) -> bytes: ...


class S3Client(Protocol):
    """What S3Store asks of a boto3 S3 client (boto3 has no type hints of its own)."""

    def put_object(self, **request: object) -> object: ...
    def get_object(self, **request: object) -> Mapping[str, _S3Body]: ...  # the object's bytes under "Body"
    def delete_object(self, **request: object) -> object: ...


class S3Store:
    """Files as objects of one bucket (under an optional prefix), through boto3."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client: S3Client | None = None):
        import boto3

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client: S3Client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_checked(key)}" if self.prefix else _checked(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not store {key} in s3://{self.bucket}: {exc}") from None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not read {key} from s3://{self.bucket}: {exc}") from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def store_for(config: Config) -> FileStore:
    """Return the store the configuration names (FXCRM_DOCUMENTS_URL)."""
    url = config.documents_url
    if url.startswith("s3://"):
        parsed = urlparse(url)
        if not parsed.netloc:
            raise StorageError(f"FXCRM_DOCUMENTS_URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=config.s3_endpoint_url)
    return FolderStore(url[len("file://") :] if url.startswith("file://") else url)
