"""The disk scenario's lines: both rates side by side, the ratio to the emulated ceiling
against the 5x target, the getFile count after the restart and the bytes' verdict."""

from __future__ import annotations

from tgbench.disk import table


def row(disk_mb_s: float) -> dict[str, object]:
    return {
        "mib": 64,
        "telegram_mb_s": 30.0,
        "disk_mb_s": disk_mb_s,
        "disk_runs_mb_s": [380.0, disk_mb_s, 410.5],
        "ceiling_mb_s": 64.0,
        "getfile_after_restart": 0,
        "bytes_correct": True,
    }


def test_the_lines_say_both_rates_and_the_verdict() -> None:
    met = table(row(400.0))
    assert "from Telegram (cold)       30.0 MB/s" in met
    assert "from disk (restarted)     400.0 MB/s" in met
    assert "6.2x the emulated ceiling of 64 MB/s (target 5x: met)" in met
    assert "median of 3 streams: 380.0, 400.0, 410.5 MB/s" in met
    assert "getFile requests after the restart: 0; bytes correct: yes" in met
    assert "target 5x: NOT met" in table(row(190.0))
