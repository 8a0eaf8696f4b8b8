"""`python -m tgemu.send FILE --user ID --control URL`: a user of the emulator sends the bot a
file, as they would from a Telegram app, and the links of the bot's reply are printed.

What `tgstream demo` tells you to run to try your own files.
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
import time
from pathlib import Path

import httpx

from .control_client import ControlClient, UserMessage


def _kind(mime_type: str) -> str:
    return "video" if mime_type.startswith("video/") else "document"


def video_thumbnail(path: Path, mime_type: str) -> bytes | None:
    """A thumbnail of a video, as a Telegram app attaches one (PyAV, tgemu.demo.thumbnail);
    None for anything else, or a video PyAV cannot read: it is sent without one."""
    if _kind(mime_type) != "video":
        return None
    import av

    from .demo.thumbnail import make_thumbnail

    try:
        return make_thumbnail(path, at_seconds=1.0)
    except (av.FFmpegError, ValueError, IndexError):
        return None


def _new_links(
    control: ControlClient, user: int, seen: set[int], reply_to: int
) -> list[str] | None:
    replies: list[UserMessage] = [
        m for m in control.messages_to(user) if m["id"] not in seen and m["urls"]
    ]
    for message in replies:
        if message["reply_to"] in (None, reply_to):
            return [u for u in message["urls"] if "/dl/" in u or "/watch/" in u]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tgemu.send", description=__doc__)
    parser.add_argument("file", type=Path, help="the file to send")
    parser.add_argument("--user", type=int, required=True, help="the sending user's id")
    parser.add_argument("--control", required=True, help="the emulator's control API URL")
    parser.add_argument("--dc", type=int, default=4, help="the DC the file is stored on")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the bot")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"tgemu.send: {args.file}: no such file", file=sys.stderr)
        return 2
    mime_type = mimetypes.guess_type(args.file.name)[0] or "application/octet-stream"
    control = ControlClient(args.control)
    try:
        seen = {m["id"] for m in control.messages_to(args.user)}
        sent = control.send_document(
            args.user,
            args.file,
            dc=args.dc,
            name=args.file.name,
            kind=_kind(mime_type),
            mime_type=mime_type,
            thumb=video_thumbnail(args.file, mime_type),
        )
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            links = _new_links(control, args.user, seen, sent["message_id"])
            if links:
                for link in links:
                    print(link)
                return 0
            time.sleep(0.2)
    except httpx.HTTPError as exc:
        print(f"tgemu.send: the emulator at {args.control} did not take it: {exc}", file=sys.stderr)
        return 1
    print(f"tgemu.send: the bot did not answer within {args.timeout:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
