"""What `tgstream index --backfill` does: ask the running server to walk the bin channel and
index its files.  The CLI never calls Telegram itself (owner_cli.py says why): the server's
bots hold the sessions, and it answers only a request that carries a token derived from
SECRET (web/internal.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from .config import Settings
from .owner_cli import local_url
from .web.internal import BACKFILL_PATH, action_token


class BackfillFailed(Exception):
    """Said in one line: why the running server did not backfill the index."""


def backfill_index(settings: Settings, gap: int) -> dict[str, int]:
    """Ask the running server to walk the bin channel and index its files (its bots hold
    the sessions); what it found.  Waits as long as the walk takes."""
    token = action_token(settings.secret.get_secret_value(), "index-backfill")
    url = f"{local_url(settings)}{BACKFILL_PATH}?gap={gap}"
    request = urllib.request.Request(
        url, method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=None) as answer:
            report: dict[str, int] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        why = {404: "it refused the request (is SECRET the same as the server's?)"}
        detail = why.get(exc.code, f"it answered {exc.code}")
        raise BackfillFailed(f"the server at {local_url(settings)}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        cause = getattr(exc, "reason", None) or exc
        raise BackfillFailed(
            f"the backfill needs the running server (its bots hold the Telegram sessions), "
            f"which is not reachable at {local_url(settings)} ({cause})"
        ) from None
    return report
