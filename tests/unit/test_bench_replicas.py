"""Scenario 5's arithmetic and report: ceilings, medians over runs, the verdicts on bytes and
on what replicas 2..N cost Telegram, and the printed section."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from tgbench.replicas_report import bytes_correct, ceiling_mb_s, lines, nothing_new, summarize
from tgbench.report import table
from tgbench.scenarios import FULL

NETWORK = {"dc": 4, "rtt_ms": 80, "connection_mb_s": 8.0, "account_mb_s": 64.0}


def _run(replicas: int, **figures: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": replicas,
        "viewers": 20,
        "mb_s": 50.0,
        "ttfb_p50_ms": 300.0,
        "ttfb_p95_ms": 400.0,
        "errors": 0,
        "error_kinds": [],
        "served_bytes": 20 << 20,
        "wall_s": 1.0,
        "cpu_s": 0.2,
        "cpu_s_per_gb": 10.0,
        "haproxy_cpu_s_per_gb": 1.0,
        "peak_rss_mb_each": [200.0] * replicas,
        "peak_rss_mb": 200.0,
        "spread": [20 // replicas] * replicas,
        "busy_cores": 1.9,
        "upstream_per_served": 1.0,
        "cold": {"auth_keys": 2, "imports": 1, "sign_ins": 1},
        "auth_keys": 0,
        "imports": 0,
        "sign_ins": 0,
        "auth_key_duplicated": 0,
        "file_migrate": 0,
    }
    return {**base, **figures}


def test_ceiling_is_the_replicas_connections_or_the_shared_account_cap() -> None:
    assert ceiling_mb_s(1, 2, 1, NETWORK) == 16
    assert ceiling_mb_s(3, 2, 1, NETWORK) == 48
    assert ceiling_mb_s(3, 8, 1, NETWORK) == 64  # one bot: more replicas add no bandwidth
    assert ceiling_mb_s(3, 8, 2, NETWORK) == 128


def test_medians_per_replica_count_and_per_replica_lists() -> None:
    raw = [
        {
            "replicas": 3,
            "runs": [
                _run(3, mb_s=40.0, peak_rss_mb_each=[100.0, 200.0, 300.0], spread=[7, 6, 7]),
                _run(3, mb_s=60.0, peak_rss_mb_each=[300.0, 200.0, 100.0], spread=[7, 6, 7]),
                _run(3, mb_s=55.0, peak_rss_mb_each=[200.0, 250.0, 150.0], spread=[7, 6, 7]),
            ],
        }
    ]
    row = summarize(raw, 8, NETWORK, cores=2)["rows"][0]
    assert row["medians"]["mb_s"] == 55.0
    assert row["peak_rss_mb_each"] == [200.0, 200.0, 150.0]
    assert row["spread"] == [7, 6, 7]
    assert row["cold"] == {"auth_keys": 2, "imports": 1, "sign_ins": 1}
    assert row["ceiling_mb_s"] == 64


def test_bytes_correct_tolerates_only_the_bound_and_wants_bytes() -> None:
    slow = _run(1, error_kinds=["time bound reached"])
    wrong = _run(3, error_kinds=["wrong bytes"])
    nothing = _run(1, served_bytes=0)
    assert bytes_correct([{"replicas": 1, "runs": [slow]}])
    assert not bytes_correct([{"replicas": 1, "runs": [slow]}, {"replicas": 3, "runs": [wrong]}])
    assert not bytes_correct([{"replicas": 1, "runs": [nothing]}])


@pytest.mark.parametrize("counter", ["auth_keys", "imports", "sign_ins", "auth_key_duplicated"])
def test_any_key_import_sign_in_or_duplicate_after_the_first_replica_is_missed(
    counter: str,
) -> None:
    clean = {"replicas": 1, "runs": [_run(1)]}
    assert nothing_new([clean, {"replicas": 3, "runs": [_run(3)]}])
    # One run of three is enough to miss, whatever the median says.
    runs = [_run(3), _run(3, **{counter: 1}), _run(3)]
    assert not nothing_new([clean, {"replicas": 3, "runs": runs}])


def test_section_prints_both_counts_and_what_bounds_them() -> None:
    raw = [
        {"replicas": 1, "runs": [_run(1, busy_cores=1.2)]},
        {"replicas": 3, "runs": [_run(3, spread=[7, 6, 7], busy_cores=1.97)]},
    ]
    result = summarize(raw, 8, NETWORK, cores=2)
    text = "\n".join(lines(result, asdict(FULL)))
    assert "20 viewers of 20 different 16 MiB files" in text
    assert "1 replica" in text and "3 replicas" in text
    assert "7/6/7" in text and "200/200/200" in text and "2/1/1" in text
    assert "met    replicas 2..N" in text
    assert "With 3 replicas they kept 2.0 of the 2 busy" in " ".join(text.split())
    assert "account cap (64 MB/s" in " ".join(text.split())
    assert all(len(line) <= 100 for line in text.splitlines())

    raw[1]["runs"][0]["imports"] = 1
    missed = summarize(raw, 8, NETWORK, cores=2)
    assert "MISSED replicas 2..N" in "\n".join(lines(missed, asdict(FULL)))


def _scenario_5_alone(**outcome: Any) -> dict[str, Any]:
    """`tgstream bench --replicas`'s result around `outcome` (its figures, or its failure)."""
    return {
        "workload": asdict(FULL),
        "network": NETWORK,
        "aes_ige_mb_s": 180.0,
        "cpu_floor_s_per_gb": 1e9 / 180e6,
        "runs_per_figure": 1,
        **outcome,
    }


def test_bench_table_with_scenario_5_alone() -> None:
    raw = [{"replicas": n, "runs": [_run(n)]} for n in (1, 3)]
    replicas = summarize(raw, 8, NETWORK, cores=2)
    text = table(_scenario_5_alone(replicas=replicas, all_bytes_correct=True))
    assert "medians of 1 run(s)" in text and "5. N replicas on one Redis" in text
    assert "targets for tgstream" not in text
    assert "every replica served correct bytes: yes" in text


def test_a_scenario_5_that_failed_is_said_and_fails_the_run() -> None:
    failed = "RuntimeError: HAProxy's stats name [], not ['tgstream1']"
    text = table(_scenario_5_alone(replicas_failed=failed, all_bytes_correct=False))
    assert "5. replicas behind HAProxy: failed (RuntimeError: HAProxy's stats name" in text
