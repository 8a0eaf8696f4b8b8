"""`tgstream bench --quick` as CI's smoke test: every contender, every scenario, right bytes;
replicas on one Redis behind HAProxy, the later ones costing Telegram nothing; and the
emulator's own throughput, measured the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT


def test_quick_bench_serves_correct_bytes_from_every_contender(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tgstream", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["all_bytes_correct"]
    names = {c["name"] for c in result["contenders"]}
    assert names == {"naive", "sequential", "tgstream", "tgstream-2bots"}
    for name in names:
        for scenario, figures in result["runs"][name][0].items():
            assert figures["served_bytes"] > 0, (name, scenario)
            assert figures["error_kinds"] == [], (name, scenario, figures["error_kinds"])
    assert "targets for tgstream (defaults):" in proc.stdout
    assert "every contender served correct bytes: yes" in proc.stdout

    # Scenario 5: 1 replica, then 3 on the first one's shared state, every viewer through
    # HAProxy; no key, import or sign-in on any DC once the first was warm.
    scaled = result["replicas"]
    assert [entry["replicas"] for entry in scaled["raw"]] == [1, 3]
    for entry in scaled["raw"]:
        for run in entry["runs"]:
            n = entry["replicas"]
            assert run["error_kinds"] == [], (n, run["error_kinds"])
            assert run["served_bytes"] == run["viewers"] * (1 << 20), n
            assert sum(run["spread"]) == run["viewers"] and len(run["spread"]) == n
            assert run["cold"]["sign_ins"] == 1 and run["cold"]["imports"] == 1, n
            counters = ("auth_keys", "imports", "sign_ins", "auth_key_duplicated")
            assert {k: run[k] for k in counters} == dict.fromkeys(counters, 0), n
            assert len(run["peak_rss_mb_each"]) == n and run["cpu_s"] > 0
    assert scaled["nothing_new"]
    assert "5. N replicas on one Redis behind HAProxy" in proc.stdout
    assert "met    replicas 2..N: no new key, import or sign-in" in proc.stdout


def test_emulator_throughput_reads_correct_bytes(tmp_path: Path) -> None:
    """The emulator's own getFile ceiling, measured by stock Kurigram clients."""
    out = tmp_path / "throughput.json"
    options = ["--size-mib", "2", "--clients", "2", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "tgstream", "bench", "--emulator-throughput", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["emulator_throughput"]
    pairs = [(row["clients"], row["in_flight"]) for row in rows]
    assert pairs == [(1, 1), (1, 4), (2, 4), (2, 2)]
    assert all(row["mb_s"] > 0 for row in rows)
    assert "emulator unshaped" in proc.stdout
