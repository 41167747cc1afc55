"""Document stores: a folder (embedded) and an S3-compatible bucket (a real server on loopback)."""

from __future__ import annotations

import os
import stat

import pytest

from engine.config import Config
from engine.documents.storage import FolderStore, S3Store, StorageError, store_for
from tests.documents.conftest import pdf, png

KEY = "k" * 20


def test_a_folder_store_keeps_files_for_this_user_only(tmp_path):
    store = FolderStore(tmp_path / "docs")
    store.put(KEY, png(), "image/png")
    path = tmp_path / "docs" / KEY[:2] / KEY
    assert store.get(KEY) == png()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not list(path.parent.glob("*.part"))  # written whole, then renamed
    store.delete(KEY)
    with pytest.raises(StorageError, match="missing"):
        store.get(KEY)


@pytest.mark.parametrize("key", ["../../etc/passwd", "short", "a/b" * 10, ""])
def test_a_key_that_is_not_one_of_ours_is_refused(tmp_path, key):
    with pytest.raises(StorageError, match="bad storage key"):
        FolderStore(tmp_path).put(key, b"x", "image/png")


def test_an_s3_store_keeps_and_returns_files(s3_server, s3_bucket):
    store = S3Store(s3_bucket, "clients/", client=s3_server.client())
    store.put(KEY, pdf(), "application/pdf")
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"clients/{KEY}"]
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=f"clients/{KEY}")
    assert head["ContentType"] == "application/pdf" and head["ServerSideEncryption"] == "AES256"
    assert store.get(KEY) == pdf()
    store.delete(KEY)
    with pytest.raises(StorageError, match=f"could not read {KEY}"):
        store.get(KEY)


def test_an_unreachable_bucket_is_a_storage_error(s3_server):
    store = S3Store("no-such-bucket-here", client=s3_server.client())
    with pytest.raises(StorageError, match="s3://no-such-bucket-here"):
        store.put(KEY, png(), "image/png")


def test_the_configuration_names_the_store(tmp_path, s3_server):
    assert isinstance(store_for(Config(documents_url=str(tmp_path))), FolderStore)
    s3 = store_for(Config(documents_url="s3://bucket/prefix", s3_endpoint_url=s3_server.url))
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("bucket", "prefix")
    with pytest.raises(StorageError, match="names no bucket"):
        store_for(Config(documents_url="s3:///x"))
