"""The probe a watch page is rendered with: best effort, bounded in time.

A page without a probe is the page tgstream always served (the file itself in the player), so
nothing that goes wrong while probing may cost the viewer the page: not a file PyAV cannot
read, not Telegram failing, not a slow first probe (which goes on in the background, so the
next view has it).
"""

from __future__ import annotations

import asyncio
import logging

from ..media import MediaProbe, MediaProbes
from ..store import FileInfo

__all__ = ["PAGE_PROBE_WAIT", "page_probe"]

log = logging.getLogger("tgstream.web.page_probe")

# Seconds a watch page waits for a file's first probe: a few parts from Telegram, a little
# longer when the DC is far.  Later views find the probe remembered and do not wait.
PAGE_PROBE_WAIT = 10.0


def _settle(task: asyncio.Task[MediaProbe | None]) -> None:
    # Whether the page waited for it or not (past the wait, or the viewer left), a probe's
    # failure is logged once here, never as an "exception never retrieved" at exit.
    if not task.cancelled() and task.exception() is not None:
        log.warning("probe of a watch page's file failed: %r", task.exception())


async def page_probe(
    probes: MediaProbes, info: FileInfo, wait: float = PAGE_PROBE_WAIT
) -> MediaProbe | None:
    """The probe of `info`, or None: not audio/video, unreadable, failed, or not done in
    `wait` seconds (then it goes on, unwatched, and is remembered when it ends)."""
    task = asyncio.ensure_future(probes.get(info))
    task.add_done_callback(_settle)
    try:
        return await asyncio.wait_for(asyncio.shield(task), wait)
    except TimeoutError:
        log.info("probe of message %d not ready after %.0f s: plain page", info.message_id, wait)
        return None
    except Exception:  # logged by _settle; the page works without the probe
        return None
