"""Command line: `tgstream serve | link | revoke | unrevoke | index | state | emulator | demo |
bench`.

The emulator, the demo and the bench are wired here only, imported inside their commands:
product code under tgstream/ never imports tgemu or tgbench.  A production install has
neither (nor PyAV), and those commands then say so in one line and exit 2.
"""

from __future__ import annotations

import importlib.util
import sys

# A source checkout (`pip install -r requirements-dev.txt`) has them all.
_INSTALL_HINT = "run it from a source checkout with requirements-demo.txt installed"


def _missing(command: str, modules: tuple[str, ...]) -> bool:
    """Whether a module `command` needs is not installed; if so, says which, in one line."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if absent:
        names = " and ".join(absent)
        verb = "is" if len(absent) == 1 else "are"
        print(f"tgstream {command}: {names} {verb} not installed; {_INSTALL_HINT}", file=sys.stderr)
    return bool(absent)


# What each command imports beyond the product: the emulator's control API takes uploads
# (python_multipart); the launcher and the viewers speak HTTP (httpx).
_EMULATOR = ("tgemu", "python_multipart")
_DEMO = (*_EMULATOR, "httpx", "av")
_BENCH = (*_EMULATOR, "httpx", "tgbench")


def _emulator(argv: list[str]) -> int:
    if _missing("emulator", _EMULATOR):
        return 2
    from tgemu.runner import main as emulator_main

    return emulator_main(argv)


def _serve(argv: list[str]) -> int:
    from .server import main as serve_main

    return serve_main(argv)


def _link(argv: list[str]) -> int:
    import argparse
    import asyncio
    import time

    from . import links
    from .config import ConfigError, load_settings
    from .owner_cli import NameUnknown, file_name

    parser = argparse.ArgumentParser(
        prog="tgstream link",
        description="Print the signed download and watch links of a bin-channel message.",
    )
    parser.add_argument("message_id", type=_message_id, metavar="MESSAGE_ID")
    parser.add_argument(
        "--expires-in",
        type=_lifetime,
        metavar="SECONDS",
        help="the links answer 410 Gone after this long (seconds, or 90m, 24h, 7d)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tgstream: {exc}", file=sys.stderr)
        return 2
    message_id: int = args.message_id
    secret = settings.secret.get_secret_value()
    try:
        name = asyncio.run(file_name(settings, message_id))
    except NameUnknown as exc:
        print(f"tgstream link: {exc}", file=sys.stderr)
        return 1
    expires = None if args.expires_in is None else int(time.time()) + args.expires_in
    for path in (links.download_path, links.watch_path):
        print(links.public_url(settings.public_url, path(message_id, name, secret, expires)))
    return 0


def _message_id(text: str) -> int:
    import argparse

    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"not a message id: {text!r}")
    return int(text)


def _lifetime(text: str) -> int:
    import argparse

    from .links import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _revoke(argv: list[str], revoked: bool = True) -> int:
    import argparse
    import asyncio

    from .config import ConfigError, load_settings
    from .owner_cli import set_revoked

    command = "revoke" if revoked else "unrevoke"
    parser = argparse.ArgumentParser(
        prog=f"tgstream {command}",
        description="Every link of the message answers 410 Gone from now on (all replicas "
        "within seconds)."
        if revoked
        else "The message's links work again (those not past their own end).",
    )
    parser.add_argument("message_id", type=_message_id, metavar="MESSAGE_ID")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tgstream: {exc}", file=sys.stderr)
        return 2
    problem = asyncio.run(set_revoked(settings, args.message_id, revoked))
    if problem:
        print(f"tgstream {command}: {problem}", file=sys.stderr)
        return 1
    print(f"message {args.message_id}: links {'revoked' if revoked else 'restored'}")
    return 0


def _unrevoke(argv: list[str]) -> int:
    return _revoke(argv, revoked=False)


def _state(argv: list[str]) -> int:
    import argparse
    import asyncio
    import os
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="tgstream state",
        description="Copy one server's state (SESSION_DIR) once into an empty Redis.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="SESSION_DIR's SQLite state -> an empty Redis")
    migrate.add_argument("--to", required=True, metavar="URL", help="redis://host:port/db")
    migrate.add_argument(
        "--session-dir",
        type=Path,
        default=Path(os.environ.get("SESSION_DIR") or "./sessions"),
        help="the state to copy (default: SESSION_DIR, else ./sessions)",
    )
    args = parser.parse_args(argv)
    if not args.to.startswith(("redis://", "rediss://", "unix://")):
        print(f"tgstream state migrate: --to must be a Redis URL, got {args.to!r}", file=sys.stderr)
        return 2
    from .store.migrate import MigrationRefused, migrate_session_dir

    try:
        done = asyncio.run(migrate_session_dir(args.session_dir, args.to))
    except MigrationRefused as exc:
        print(f"tgstream state migrate: {exc}", file=sys.stderr)
        return 2
    print(f"migrated {done} from {args.session_dir}")
    return 0


def _index(argv: list[str]) -> int:
    import argparse

    from .config import ConfigError, load_settings
    from .index_cli import BackfillFailed, backfill_index
    from .telegram.channel_walk import GAP

    parser = argparse.ArgumentParser(
        prog="tgstream index",
        description="The file index the WebDAV view lists.  --backfill: the running server "
        "walks the bin channel once (channels.getMessages, in batches of ids) and indexes "
        "every file posted before the index existed or while the bot was down.",
    )
    parser.add_argument("--backfill", action="store_true", required=True)
    parser.add_argument(
        "--gap",
        type=int,
        default=GAP,
        metavar="IDS",
        help=f"empty message ids in a row past the newest known message that end the walk "
        f"(default {GAP}); raise it if the channel has longer runs of deleted messages",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.gap <= 1_000_000:
        parser.error("--gap must be between 1 and 1000000")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tgstream: {exc}", file=sys.stderr)
        return 2
    try:
        report = backfill_index(settings, args.gap)
    except BackfillFailed as exc:
        print(f"tgstream index: {exc}", file=sys.stderr)
        return 1
    print(
        f"index backfill: {report['added']} files added, {report['removed']} removed, "
        f"{report['files']} files in {report['messages']} messages, "
        f"{report['scanned']} ids scanned, newest message {report['last_id']}"
    )
    return 0


def _demo(argv: list[str]) -> int:
    if _missing("demo", _DEMO):
        return 2
    from tgemu.demo.run import main as demo_main

    return demo_main(argv)


def _bench(argv: list[str]) -> int:
    if _missing("bench", _BENCH):
        return 2
    from tgbench.run import main as bench_main

    return bench_main(argv)


COMMANDS = {
    "serve": (_serve, "serve bin-channel files over HTTP (settings from env / .env)"),
    "link": (_link, "print a bin-channel message's signed links [--expires-in SECONDS]"),
    "revoke": (_revoke, "make every link of a bin-channel message answer 410 Gone"),
    "unrevoke": (_unrevoke, "undo `revoke`: the message's links work again"),
    "index": (_index, "index --backfill: index the files already in the bin channel"),
    "state": (_state, "state migrate --to redis://…: copy SESSION_DIR's state into Redis"),
    "emulator": (_emulator, "run the Telegram DC emulator (MTProto 2.0 on loopback ports)"),
    "demo": (_demo, "emulator + server + a sample video, links printed; no credentials"),
    "bench": (_bench, "tgstream against common streaming bots on an emulated network"),
}


def _usage() -> str:
    lines = ["usage: tgstream COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"tgstream: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return command[0](args[1:])
