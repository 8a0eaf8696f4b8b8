"""A stock Kurigram client pointed at the emulator: only its DC addresses and RSA key change.

Kurigram's public `connection_factory` parameter decides where each DC's connections go, and
its RSA key table is where a client finds the key a server's fingerprint names; nothing in
its protocol code is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from pyrogram import Client
from pyrogram.connection import Connection
from pyrogram.crypto import rsa


def install_rsa_key(pem: str, fingerprint: int | None = None) -> int:
    key: Any = serialization.load_pem_public_key(pem.encode())
    numbers = key.public_numbers()
    from tgemu.rsa_key import rsa_fingerprint

    fp = rsa_fingerprint(numbers.n, numbers.e)
    if fingerprint is not None:
        assert fp == fingerprint
    rsa.server_public_keys[fp] = rsa.PublicKey(numbers.n, numbers.e)
    return fp


def document_location(file_id: str) -> Any:
    """The InputDocumentFileLocation a Bot-API file_id names."""
    from pyrogram import raw
    from pyrogram.file_id import FileId

    decoded = FileId.decode(file_id)
    return raw.types.InputDocumentFileLocation(
        id=decoded.media_id,
        access_hash=decoded.access_hash,
        file_reference=decoded.file_reference,
        thumb_size="",
    )


def connection_factory(dcs: dict[int, tuple[str, int]]) -> type[Connection]:
    class EmulatorConnection(Connection):
        def __init__(self, dc_id: int, server_address: str, port: int, *args: Any, **kw: Any):
            host, real_port = dcs[dc_id]
            super().__init__(dc_id, host, real_port, *args, **kw)

    return EmulatorConnection


def make_client(
    config: dict[str, Any],
    name: str,
    workdir: Path,
    bot_token: str | None = None,
    **kwargs: Any,
) -> Client:
    dcs = {int(dc): (v["host"], int(v["port"])) for dc, v in config["dcs"].items()}
    install_rsa_key(config["rsa_public_key"], config.get("rsa_fingerprint"))
    return Client(
        name,
        api_id=config["api_id"],
        api_hash=config["api_hash"],
        bot_token=bot_token if bot_token is not None else config["bot_token"],
        workdir=str(workdir),
        connection_factory=connection_factory(dcs),
        no_updates=kwargs.pop("no_updates", True),
        **kwargs,
    )
