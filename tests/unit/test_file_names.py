"""One name per bin-channel file: what the resolver records (and so the watch page and
Content-Disposition show) and what the bot writes in its reply and links are the same
function of the same facts, named after the bin-channel message."""

from __future__ import annotations

import pytest
from pyrogram import raw

from tgstream.telegram.metadata import file_info_from_message, file_name_of


@pytest.mark.parametrize(
    ("given", "mime", "photo", "name"),
    [
        ("holiday clip.mp4", "video/mp4", False, "holiday clip.mp4"),
        ("report", "application/pdf", False, "report"),  # the sender's name is kept exact
        ("a\r\nb<i>.txt", "text/plain", False, "a\r\nb<i>.txt"),
        (None, "video/mp4", False, "file-7.mp4"),
        ("", "video/mp4", False, "file-7.mp4"),
        (None, "audio/ogg", False, "file-7.ogg"),  # a voice note
        (None, "VIDEO/X-Matroska", False, "file-7.mkv"),
        (None, "video/mp4; codecs=avc1", False, "file-7.mp4"),
        (None, "application/octet-stream", False, "file-7"),
        (None, "application/x-unknown", False, "file-7"),
        (None, "not a type\r\n", False, "file-7"),
        (None, None, False, "file-7"),
        (None, None, True, "photo-7.jpg"),
        ("ignored.png", "image/png", True, "photo-7.jpg"),
    ],
)
def test_file_name_of(given: str | None, mime: str | None, photo: bool, name: str) -> None:
    assert file_name_of(7, given, mime, photo=photo) == name


def _document(mime: str, *attributes: object) -> raw.types.MessageMediaDocument:
    document = raw.types.Document(
        id=1,
        access_hash=2,
        file_reference=b"r",
        date=1_700_000_000,
        mime_type=mime,
        size=10,
        dc_id=4,
        attributes=list(attributes),
    )
    return raw.types.MessageMediaDocument(document=document)


class _Message:
    def __init__(self, media: object) -> None:
        self.media = media


def test_the_resolver_names_files_with_the_same_function() -> None:
    named = _document("video/mp4", raw.types.DocumentAttributeFilename(file_name="a.mp4"))
    assert file_info_from_message(7, _Message(named)).file_name == "a.mp4"
    voice = _document("audio/ogg", raw.types.DocumentAttributeAudio(duration=3, voice=True))
    assert file_info_from_message(7, _Message(voice)).file_name == file_name_of(
        7, None, "audio/ogg"
    )
    size = raw.types.PhotoSize(type="y", w=1280, h=720, size=5000)
    photo = raw.types.Photo(
        id=3,
        access_hash=4,
        file_reference=b"r",
        date=1_700_000_000,
        sizes=[size],
        dc_id=2,
    )
    info = file_info_from_message(13, _Message(raw.types.MessageMediaPhoto(photo=photo)))
    assert info.file_name == file_name_of(13, None, None, photo=True) == "photo-13.jpg"
