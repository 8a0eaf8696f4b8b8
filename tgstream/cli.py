"""Command line: `tgstream serve | emulator | link | demo | bench`.

The emulator and the bench are wired here only: product code under tgstream/ never
imports tgemu or tgbench.
"""

from __future__ import annotations

import sys


def _emulator(argv: list[str]) -> int:
    from tgemu.runner import main as emulator_main

    return emulator_main(argv)


def _serve(argv: list[str]) -> int:
    from .server import main as serve_main

    return serve_main(argv)


def _link(argv: list[str]) -> int:
    from . import links
    from .config import ConfigError, load_settings

    if len(argv) != 1 or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: tgstream link MESSAGE_ID", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"tgstream: {exc}", file=sys.stderr)
        return 2
    message_id = int(argv[0])
    secret = settings.secret.get_secret_value()
    name = f"file-{message_id}"
    print(links.public_url(settings.public_url, links.download_path(message_id, name, secret)))
    print(links.public_url(settings.public_url, links.watch_path(message_id, name, secret)))
    return 0


def _demo(argv: list[str]) -> int:
    from .demo.run import main as demo_main

    return demo_main(argv)


def _bench(argv: list[str]) -> int:
    from tgbench.run import main as bench_main

    return bench_main(argv)


COMMANDS = {
    "serve": (_serve, "serve bin-channel files over HTTP (settings from env / .env)"),
    "link": (_link, "print the signed download and watch links of a bin-channel message"),
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
