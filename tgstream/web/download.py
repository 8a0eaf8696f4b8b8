"""GET/HEAD of a signed link: the link is checked, the file's record found, and its response
(TelegramFileResponse) does the rest, all within the first-byte deadline."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException

from .. import links
from ..metrics import Metrics
from ..store.revocations import Revocations
from .deadline import FirstByteClock
from .response import TelegramFileResponse
from .source import FileSource


class LinkRefused(HTTPException):
    """A link answered before anything is resolved: no Telegram call is made for it.  Each
    kind is its own type, so an error page can tell them apart; the JSON body is the
    handlers' usual {"error": detail}."""

    reason = ""


class ForgedLink(LinkRefused):
    reason = "forged"

    def __init__(self) -> None:
        super().__init__(403, "invalid or forged link")


class ExpiredLink(LinkRefused):
    reason = "expired"

    def __init__(self) -> None:
        super().__init__(410, "this link has expired")


class RevokedLink(LinkRefused):
    reason = "revoked"

    def __init__(self) -> None:
        super().__init__(410, "this link was revoked by the owner")


async def check_link(
    message_id: int,
    sig: str,
    exp: str | None,
    secret: str,
    revocations: Revocations,
    metrics: Metrics,
) -> None:
    """Forged (403), expired or revoked (410) links are refused and counted, in that order:
    the signature and the time are read from the URL alone, the revocation from the store."""
    refusal: LinkRefused | None = None
    state = links.check(message_id, sig, exp, secret, time.time())
    if state is links.LinkState.FORGED:
        refusal = ForgedLink()
    elif state is links.LinkState.EXPIRED:
        refusal = ExpiredLink()
    elif await revocations.revoked(message_id):
        refusal = RevokedLink()
    if refusal is not None:
        metrics.link_refusals.labels(refusal.reason).inc()
        raise refusal


async def serve(
    files: FileSource, metrics: Metrics, deadline: float, message_id: int, attachment: bool
) -> TelegramFileResponse:
    clock = FirstByteClock(deadline)
    async with clock.guard():
        info = await files.resolve(message_id)
    return TelegramFileResponse(info, files, metrics=metrics, attachment=attachment, clock=clock)
