"""GET/HEAD of a signed link: the link is checked, the file's record found, and its response
(TelegramFileResponse) does the rest, all within the first-byte deadline."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from .. import links
from ..metrics import Metrics
from .deadline import FirstByteClock
from .response import TelegramFileResponse
from .source import FileSource


def check_link(message_id: int, sig: str, secret: str) -> None:
    if not links.verify(message_id, sig, secret):
        raise HTTPException(403, "invalid or forged link")


async def serve(
    files: FileSource, metrics: Metrics, deadline: float, message_id: int, attachment: bool
) -> TelegramFileResponse:
    clock = FirstByteClock(deadline)
    async with clock.guard():
        info = await files.resolve(message_id)
    return TelegramFileResponse(info, files, metrics=metrics, attachment=attachment, clock=clock)
