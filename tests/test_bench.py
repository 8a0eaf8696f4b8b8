"""`tgstream bench --quick` as CI's smoke test: every contender, every scenario, right bytes."""

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
