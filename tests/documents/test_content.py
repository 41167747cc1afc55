"""A file is what its content says, not what its name or declared type says."""

from __future__ import annotations

import pytest

from engine.documents.content import ContentRefused, sniff
from tests.documents.conftest import ELF, pdf, png

LIMIT = 1024 * 1024


def test_images_and_pdfs_are_recognised_by_their_bytes():
    assert sniff(png(), "image/png", LIMIT) == "image/png"
    assert sniff(pdf(), "application/pdf", LIMIT) == "application/pdf"
    assert sniff(pdf(), None, LIMIT) == "application/pdf"
    assert sniff(pdf(), "application/octet-stream", LIMIT) == "application/pdf"


@pytest.mark.parametrize(
    "data, declared, message",
    [
        (png(), "application/pdf", "it was sent as application/pdf but its content is image/png"),
        (ELF, "application/pdf", "its content is application/x-executable"),
        (b"just some text, named passport.pdf", "application/pdf", "its content is not a known file type"),
        (b"", "image/png", "the file is empty"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused(data, declared, message):
    with pytest.raises(ContentRefused) as refused:
        sniff(data, declared, LIMIT)
    assert message in str(refused.value)


def test_a_file_over_the_limit_is_refused_before_it_is_looked_at():
    with pytest.raises(ContentRefused, match="the file is 2,048 bytes; at most 1,024 are accepted"):
        sniff(png() + b"\x00" * (2048 - len(png())), "image/png", 1024)
