"""No secret leaves the server: one full session (start-up with two bots, /start, a file sent to
the bot, ranged streams under a FLOOD_WAIT, a file-reference rotation, dropped connections and a
revoked authorization, shutdown) and then every line it logged, /status and /metrics are
searched for the bot tokens, API_HASH, SECRET and every auth key in any common encoding.
SESSION_DIR is private: the directory 0700, every file in it 0600."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20
FILE_DC = 4
LINK_SECRET = "full-session-link-secret-9f3c2a"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def auth_keys(database: Path, table: str) -> list[bytes]:
    """The auth_key column of a SQLite file, read without writing to it."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return [bytes(row[0]) for row in db.execute(f"SELECT auth_key FROM {table}") if row[0]]
    finally:
        db.close()


def encodings(key: bytes) -> Iterator[str]:
    """The whole key, and every 16-byte slice of it, as a log line could spell them."""
    for chunk in [key] + [key[i : i + 16] for i in range(0, len(key), 16)]:
        yield chunk.hex()
        yield chunk.hex().upper()
        yield repr(chunk)[2:-1]
    # A base64 run of a 3-aligned slice is a substring of the whole key's base64, so 24-byte
    # slices at multiples of 24 catch any leak of 48 bytes or more in these alphabets.
    for chunk in [key] + [key[i : i + 24] for i in range(0, len(key) - 23, 24)]:
        for text in (base64.b64encode(chunk), base64.urlsafe_b64encode(chunk)):
            yield text.decode().rstrip("=")


def get_range(url: str, first: int, last: int, data: bytes) -> None:
    response = httpx.get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=90)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert sha(response.content) == sha(data[first : last + 1])


def test_a_full_session_leaks_no_secret(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    tokens: list[str] = emulator.config["bot_tokens"]
    assert len(tokens) >= 2
    server = new_server(
        server_factory,
        emulator,
        tmp_path,
        "secrets",
        MULTI_TOKEN1=tokens[1],
        SECRET=LINK_SECRET,
        LOG_LEVEL="DEBUG",
    )

    # The bot side: /start, then a file whose copy into the bin channel is flood-waited.
    httpx.post(f"{emulator.url}/users/8201/messages", json={"text": "/start"}).raise_for_status()
    emulator.faults(flood_waits=[{"method": "messages.sendMedia", "seconds": 1, "count": 1}])
    data = os.urandom(8 * MiB + 333)
    emulator.post_file("/users/8201/documents", data, FILE_DC, "diary.mp4", kind="video")
    replies = replies_to(emulator, 8201, 2)
    download = next(u for r in replies for u in r["urls"] if "/dl/" in u)

    # Streams, each with a fault: a FLOOD_WAIT on getFile, rotated file references,
    # connections that die mid-frame, and a revoked authorization on the file's DC.
    emulator.faults(
        flood_waits=[{"method": "upload.getFile", "dc": FILE_DC, "seconds": 1, "count": 1}]
    )
    get_range(download, 0, 2 * MiB - 1, data)
    emulator.faults(rotate_file_references=True)
    get_range(download, 2 * MiB + 100, 4 * MiB + 99, data)
    connections_before = emulator.dc_stats(FILE_DC)["connections"]
    emulator.faults(dcs={str(FILE_DC): {"drop_after_bytes": 300_000}})
    reader = threading.Thread(target=get_range, args=(download, 5 * MiB, 6 * MiB + 7, data))
    reader.start()
    time.sleep(0.5)
    emulator.faults(dcs={str(FILE_DC): {"drop_after_bytes": None}})
    reader.join(120)
    assert not reader.is_alive()
    emulator.faults(revoke_authorizations=[FILE_DC])
    full = httpx.get(download, timeout=90)
    assert full.status_code == 200 and sha(full.content) == sha(data)

    dc4 = emulator.dc_stats(FILE_DC)
    assert dc4["flood_waits"] >= 1 and dc4["file_reference_expired"] >= 1
    assert dc4["connections"] > connections_before
    assert emulator.stats()["errors"].get("AUTH_KEY_UNREGISTERED", 0) >= 1
    status = httpx.get(f"{server.url}/status", timeout=30)
    metrics = httpx.get(f"{server.url}/metrics", timeout=30)
    assert status.status_code == 200 and metrics.status_code == 200
    assert server.stop() == 0

    logs = server.logs()
    # The log really covers the session, so a clean search below means something.
    assert "file stored" in logs and "bot ready" in logs
    exposed = "\n".join((logs, status.text, metrics.text))

    secrets: list[str] = [emulator.config["api_hash"], LINK_SECRET]
    for token in tokens[:2]:
        secrets += [token, token.split(":", 1)[1]]
    for secret in secrets:
        assert secret not in exposed, "a credential was written out"

    session_dir = server.session_dir
    keys = auth_keys(session_dir / "tgstream.sqlite3", "auth_keys")
    session_files = sorted(session_dir.glob("bot-*.session"))
    assert len(session_files) == 2
    home_keys = [k for path in session_files for k in auth_keys(path, "sessions")]
    emulator_keys = auth_keys(emulator.state_dir / "emulator.sqlite3", "auth_keys")
    assert keys and len(home_keys) == 2 and emulator_keys
    checked = 0
    for key in {*keys, *home_keys, *emulator_keys}:
        assert len(key) == 256
        for form in encodings(key):
            assert form not in exposed, "auth key bytes were written out"
            checked += 1
    assert checked > 0

    assert stat.S_IMODE(session_dir.stat().st_mode) == 0o700
    files = [p for p in session_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name} is readable by others"
