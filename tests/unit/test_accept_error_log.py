"""An event-loop error that repeats (accept() failing with EMFILE thousands of times a
second) is one log line a second, with the count of the ones left out."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tgstream.web.edge import AcceptErrorLog


def test_repeats_are_one_line_a_second(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [50.0]
    monkeypatch.setattr("tgstream.web.edge.time.monotonic", lambda: now[0])
    handler = AcceptErrorLog()
    loop = asyncio.new_event_loop()
    context = {"message": "socket.accept() out of system resource", "exception": OSError(24)}
    with caplog.at_level(logging.ERROR, logger="tgstream.web.edge"):
        for second in range(3):
            for _ in range(10_000):
                handler(loop, context)
                now[0] += 0.5 / 10_000
            now[0] = 50.0 + second + 1
    loop.close()
    lines = [r for r in caplog.records if r.getMessage().startswith("socket.accept()")]
    assert len(lines) == 3
    assert [getattr(r, "repeated", None) for r in lines] == [None, 9_999, 9_999]
