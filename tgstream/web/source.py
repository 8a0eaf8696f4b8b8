"""What the web layer needs from the streaming side, and nothing more.

Declared here, by its user, so the HTTP behaviour can be driven in-process over any source
(tests use an in-memory one); tgstream.streaming.source.FileStreams is the real one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from ..store import FileInfo


class FileSource(Protocol):
    async def resolve(self, message_id: int) -> FileInfo:
        """The file of a bin-channel message; raises the Telegram errors the app maps to
        HTTP (FileGone, TelegramUnavailable, UpstreamRejected)."""
        ...

    def stream(
        self, info: FileInfo, first: int, last: int, whole: bool = False
    ) -> AsyncGenerator[bytes, None]:
        """Bytes `first..last` (inclusive) of the file, in pieces; closed (aclose) when the
        response ends early.  The response takes the first piece before it sends a status
        line, so whatever fails up to there is still an HTTP error; ShorterThanDeclared
        there means: answer again for its smaller file.  `whole`: the whole file was asked for
        without a Range (a download, which reads to the end)."""
        ...

    async def thumbnail(self, info: FileInfo) -> bytes:
        """The file's thumbnail, a JPEG (only asked when info.has_thumb); raises as resolve
        does, NoThumbnail when Telegram has none for it after all."""
        ...
