"""/status and /metrics are two views of one set of counters: after real streams they agree."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from tests.e2e.conftest import new_server
from tests.support.processes import EmulatorProcess, ServerProcess

MiB = 1 << 20


def samples(server: ServerProcess) -> dict[str, float]:
    """Every sample of /metrics, keyed by its name and labels as the text format writes them."""
    result: dict[str, float] = {}
    for line in httpx.get(f"{server.url}/metrics", timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            result[key] = float(value)
    return result


def test_cache_counters_agree_after_streaming_a_file_twice(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data = os.urandom(3 * MiB + 4321)
    message_id = emulator.post_to_channel(data, dc=4)["message_id"]
    server = new_server(server_factory, emulator, tmp_path, "counters")
    url = server.link(message_id)
    for _ in range(2):
        response = httpx.get(url, timeout=60)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()

    status, metrics = server.status(), samples(server)
    cache = status["cache"]
    # The second stream is served from the cache: there are hits, and misses for the first.
    assert cache["hits"] > 0 and cache["misses"] > 0
    assert metrics["tgstream_cache_hits_total"] == cache["hits"]
    assert metrics["tgstream_cache_misses_total"] == cache["misses"]
    assert metrics["tgstream_cache_bytes"] == cache["bytes"] > 0
    # One count, two views, for the other counters too.
    assert metrics["tgstream_dc_map_lookups_total"] == status["dc_map"]["lookups"] > 0
    assert status["dc_map"]["learned"] == status["dc_map"]["migrations_seen"]
    assert metrics["tgstream_file_migrations_total"] == status["dc_map"]["learned"]
    assert metrics["tgstream_upstream_inflight"] == status["upstream_inflight"] == 0
    assert metrics["tgstream_active_streams"] == status["active_streams"] == 0
    (bot,) = (b for b in status["bots"] if b["dc_sessions"])
    keys = sum(v for k, v in metrics.items() if k.startswith("tgstream_auth_keys_created_total"))
    imports = sum(v for k, v in metrics.items() if k.startswith("tgstream_auth_imports_total"))
    assert keys == bot["auth_keys_created"] == 1
    assert imports == bot["auth_imports"] == 1
    connections = f'tgstream_dc_connections{{bot="{bot["bot_id"]}",dc="4"}}'
    assert metrics[connections] == bot["dc_sessions"]["4"]["connections"] > 0
