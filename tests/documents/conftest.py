"""Document files: sample files of each kind, and an S3-compatible server on loopback."""

from __future__ import annotations

import pytest

from engine.documents import samples
from tests import services


def png() -> bytes:
    return samples.png(8, 6)


def pdf() -> bytes:
    return samples.pdf()


ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200  # an executable, whatever its name says


@pytest.fixture(scope="session")
def s3_server():
    server = services.S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    import uuid

    name = f"fxcrm-docs-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name
