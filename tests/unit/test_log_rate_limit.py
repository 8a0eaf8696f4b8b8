"""Repeated warnings cost a few lines per window, and the next line says how many went."""

from __future__ import annotations

import logging

import pytest

from tgstream.logs import RateLimit


def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "tgstream.x", "msg": msg, "levelno": level})


def test_a_storm_is_cut_to_the_burst_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("tgstream.logs.time.monotonic", lambda: now[0])
    limit = RateLimit(burst=3, window=10)
    passed = [limit.filter(record("flood")) for _ in range(1000)]
    assert passed.count(True) == 3
    # Other messages and info lines are not held back by it.
    assert limit.filter(record("other"))
    assert all(limit.filter(record("flood", logging.INFO)) for _ in range(50))
    now[0] += 10
    after = record("flood")
    assert limit.filter(after)
    assert after.suppressed == 997  # type: ignore[attr-defined]
