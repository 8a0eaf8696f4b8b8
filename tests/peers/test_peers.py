"""Stock clients of older API layers, unmodified, against the emulator process.

Each is given only the emulator's DC addresses and RSA key; it signs in as a bot, reads the
bin channel and downloads a document stored on DC 4, and the bytes are hashed here against
the source. The emulator answers each in the layer it declared (tgemu/layers).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.jpegs import make_jpeg
from tests.support.processes import ROOT, EmulatorProcess
from tgemu.rsa_key import rsa_fingerprint

PEERS = ROOT / ".venv" / "peers"
HERE = Path(__file__).resolve().parent
MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settings(emu: EmulatorProcess, message_ids: list[int], download_id: int) -> dict[str, Any]:
    config = emu.config
    key: Any = serialization.load_pem_public_key(config["rsa_public_key"].encode())
    numbers = key.public_numbers()
    bin_channel = int(config["bin_channel"])
    return {
        "dcs": config["dcs"],
        "home_dc": config["home_dc"],
        "rsa_n": str(numbers.n),
        "rsa_e": numbers.e,
        "rsa_fingerprint": str(rsa_fingerprint(numbers.n, numbers.e)),
        "api_id": config["api_id"],
        "api_hash": config["api_hash"],
        # The second bot, so the peers' sign-ins leave the main bot's sessions alone.
        "bot_token": config["bot_tokens"][1],
        "bin_channel": bin_channel,
        "channel_id": -bin_channel - 10**12,
        "message_ids": message_ids,
        "download_id": download_id,
    }


def run_peer(command: list[str], env: dict[str, str], workdir: Path) -> dict[str, Any]:
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


THUMB = make_jpeg(320, 180, seed=3)


def post_files(emu: EmulatorProcess) -> tuple[bytes, list[int]]:
    data = os.urandom(3 * MiB + 12345)
    first = emu.post_to_channel(os.urandom(1000), dc=2, name="small.bin", caption="small")
    big = emu.post_to_channel(data, dc=4, name="peer.bin", caption="from DC 4", thumb=THUMB)
    assert big["dc_id"] == 4
    return data, [first["message_id"], big["message_id"]]


def check(
    emu: EmulatorProcess, seen: dict[str, Any], data: bytes, out: Path, ids: list[int]
) -> None:
    assert sha(out.read_bytes()) == sha(data) and seen["size"] == len(data)
    # The document's thumbnail, listed and fetched in the client's own layer.
    assert seen["thumbs"] == [[320, 180, len(THUMB)]]
    assert sha(Path(f"{out}.thumb").read_bytes()) == sha(THUMB)
    assert seen["me"] == {"id": str(emu.config["bot_ids"][1]), "bot": True}
    assert [m["id"] for m in seen["messages"]] == ids
    assert [m["text"] for m in seen["messages"]] == ["small", "from DC 4"]
    assert seen["dc"] == 4
    stats = emu.stats()
    assert stats["unimplemented"] == {}
    assert stats["dcs"]["4"]["auth_imports"] >= 1
    assert stats["dcs"]["4"]["getfile_bytes"] >= len(data) + len(THUMB)
    assert stats["dcs"]["4"]["getfile_thumb_requests"] >= 1


def test_stock_gramjs_layer_198_bot_reads_the_bin_channel_and_downloads_from_dc4(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    data, ids = post_files(emu)
    settings_path = tmp_path / "settings.json"
    settings_path.write_text(json.dumps(settings(emu, ids, ids[1])))
    out = tmp_path / "download.bin"
    env = {"PATH": os.environ["PATH"], "NODE_PATH": str(PEERS / "gramjs" / "node_modules")}
    seen = run_peer(
        ["node", str(HERE / "gramjs" / "bot.js"), str(settings_path), str(out)], env, tmp_path
    )
    assert seen["layer"] == 198
    check(emu, seen, data, out, ids)


@pytest.mark.parametrize(("version", "layer"), [("2.0.93", 151), ("2.0.106", 158)])
def test_stock_pyrogram_bot_reads_the_bin_channel_and_downloads_from_dc4(
    emu: EmulatorProcess, tmp_path: Path, version: str, layer: int
) -> None:
    data, ids = post_files(emu)
    settings_path = tmp_path / "settings.json"
    settings_path.write_text(json.dumps(settings(emu, ids, ids[1])))
    out = tmp_path / "download.bin"
    # Only the --target install is on the path: its `pyrogram` shadows Kurigram's.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PEERS / f"pyrogram-{version}")}
    command = [sys.executable, str(HERE / "pyrogram" / "bot.py"), str(settings_path), str(out)]
    seen = run_peer(command, env, tmp_path)
    assert (seen["version"], seen["layer"]) == (version, layer)
    check(emu, seen, data, out, ids)
