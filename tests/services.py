"""Find the PostgreSQL and Redis the tests use, and make per-run databases."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REQUIRED = os.environ.get("FXCRM_TEST_REQUIRE_SERVICES") == "1"


def _reachable(url: str) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 1):
            return True
    except OSError:
        return False


def service_url(name: str) -> str | None:
    """Return the URL of PostgreSQL or Redis for tests, or None when it is not there.

    With FXCRM_TEST_REQUIRE_SERVICES=1 (CI) a missing service is an error, not a skip.
    """
    env = f"FXCRM_TEST_{name.upper()}_URL"
    url = os.environ.get(env) or (DEFAULT_PG if name == "postgres" else DEFAULT_REDIS)
    if _reachable(url):
        return url
    if REQUIRED:
        pytest.fail(f"{name} is required (FXCRM_TEST_REQUIRE_SERVICES=1) but {url} cannot be reached", pytrace=False)
    return None


def require(name: str) -> str:
    """Return the service URL or skip the test saying what is missing."""
    url = service_url(name)
    if url is None:
        pytest.skip(f"{name} is not reachable; set FXCRM_TEST_{name.upper()}_URL to run this")
    return url


class PostgresServer:
    """Creates throw-away databases on the test PostgreSQL server."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        from sqlalchemy import text

        name = f"fxcrm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def sqlite_copy(template: Path, target_dir: Path) -> str:
    """Copy a migrated SQLite template and return the URL of the copy."""
    target = target_dir / "fxcrm.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """A real S3-compatible server on loopback (moto's standalone server) for storage tests.

    Started by the suite (the `s3_server` fixture): `moto_server` comes with the test
    dependencies. FXCRM_TEST_S3_URL points the tests at another server instead (MinIO).
    """

    def __init__(self):
        import subprocess
        import sys
        import time

        self.process = None
        self.url = os.environ.get("FXCRM_TEST_S3_URL")
        if self.url:
            return
        port = free_port()
        server = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not _reachable(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                message = f"the S3-compatible test server ({server}) did not start"
                if REQUIRED:
                    pytest.fail(message, pytrace=False)
                pytest.skip(message)
            time.sleep(0.1)

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
