"""File response headers: which types may never be shown inline on tgstream's origin."""

from __future__ import annotations

import pytest

from tgstream.web.headers import content_disposition, file_security_headers, is_active_content


@pytest.mark.parametrize(
    "mime",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/rss+xml",
        "text/xml",
        "application/javascript",
        "application/pdf",
    ],
)
def test_types_that_can_run_script_are_active(mime: str) -> None:
    assert is_active_content(mime)


@pytest.mark.parametrize(
    "mime", ["video/mp4", "audio/mpeg", "image/png", "application/octet-stream", "text/plain"]
)
def test_media_and_plain_types_are_not(mime: str) -> None:
    assert not is_active_content(mime)


def test_every_file_body_is_sandboxed_and_never_sniffed() -> None:
    headers = file_security_headers()
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox"


def test_disposition_keeps_the_exact_name_in_filename_star() -> None:
    value = content_disposition('ré"sumé\r\n.pdf', attachment=True)
    assert value.startswith('attachment; filename="r__sum___.pdf"')
    assert "filename*=UTF-8''r%C3%A9%22sum%C3%A9%0D%0A.pdf" in value
