"""Running the emulator as a process: DC listeners plus the control API on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from .control import create_control_app
from .server import Emulator
from .world import DEFAULT_DCS, EmulatorConfig


def parse_dcs(text: str) -> tuple[int, ...]:
    try:
        dcs = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise ValueError(f"--dcs must be a comma-separated list of DC ids, got {text!r}") from None
    if not dcs or any(not 1 <= dc <= 5 for dc in dcs):
        raise ValueError(f"--dcs must name DCs between 1 and 5, got {text!r}")
    return dcs


async def serve(
    state_dir: Path,
    control_port: int = 0,
    dcs: tuple[int, ...] = DEFAULT_DCS,
    home_dc: int = 2,
    bots: int = 1,
    host: str = "127.0.0.1",
) -> None:
    emu = Emulator(EmulatorConfig(state_dir=state_dir, dc_ids=dcs, home_dc=home_dc, bots=bots))
    await emu.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, control_port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_control_app(emu), log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    url = f"http://{host}:{port}"
    print(f"tgemu control URL: {url}", flush=True)
    print(json.dumps({"control_url": url, "dcs": emu.ports}), flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tgstream emulator", description="Telegram DC emulator")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=Path("state/emulator"))
    parser.add_argument("--dcs", default="1,2,3,4,5")
    parser.add_argument("--home-dc", type=int, default=2)
    parser.add_argument("--bots", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        dcs = parse_dcs(args.dcs)
        if args.home_dc not in dcs:
            raise ValueError(f"--home-dc {args.home_dc} is not among --dcs {args.dcs}")
        if not 0 <= args.bots <= 100:
            raise ValueError("--bots must be between 0 and 100")
        if not 0 <= args.control_port <= 65535:
            raise ValueError("--control-port must be between 0 and 65535")
    except ValueError as exc:
        print(f"tgstream emulator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(args.state_dir, args.control_port, dcs, args.home_dc, args.bots, args.host)
        )
    return 0
