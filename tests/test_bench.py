"""`tgstream bench --quick` as CI's smoke test: every contender, every scenario, right bytes;
and the emulator's own throughput, measured the same way."""

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
