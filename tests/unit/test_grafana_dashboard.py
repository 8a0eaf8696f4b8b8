"""deploy/grafana/tgstream.json: a dashboard whose every query names only metrics that
/metrics really exposes (a metric renamed or dropped fails here, not on someone's wall)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.memory_files import MemoryFiles
from tests.support.web_app import app_over, settings_for
from tgstream.service import Services

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tgstream.json"
_TYPE = re.compile(r"^# TYPE (\S+) (counter|gauge|histogram|summary|untyped|info)$")
_METRIC = re.compile(r"\btgstream_[a-z0-9_]+")
# The sample names Prometheus sees for each metric type (prometheus_client's exposition;
# a counter's TYPE line names it with its _total already).
_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("_info",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
# What the dashboard is for: each of these is on it.
WANTED = {
    "tgstream_bytes_served_total",
    "tgstream_upstream_bytes_total",
    "tgstream_responses_total",
    "tgstream_streams_total",
    "tgstream_time_to_first_byte_seconds_bucket",
    "tgstream_link_refusals_total",
    "tgstream_active_streams",
    "tgstream_leader",
    "tgstream_flood_waits_total",
    "tgstream_disk_cache_read_bytes_total",
}


@pytest.fixture
async def exposed(tmp_path: Path) -> AsyncIterator[set[str]]:
    """The sample names GET /metrics declares, from the app and registry a server builds."""
    settings = settings_for(tmp_path)
    services = Services.build(settings)
    web = app_over(services, MemoryFiles())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://tgstream"
        ) as client:
            text = (await client.get("/metrics")).text
    finally:
        await services.store.close()
    names = set()
    for line in text.splitlines():
        match = _TYPE.match(line)
        if match:
            names |= {match[1] + suffix for suffix in _SUFFIXES[match[2]]}
    yield names


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def test_the_exposition_is_read(exposed: set[str]) -> None:
    # The check below is only as good as this list: metrics of every origin are in it.
    assert {"tgstream_responses_total", "tgstream_cache_hits_total", "tgstream_leader"} <= exposed
    assert "tgstream_time_to_first_byte_seconds_bucket" in exposed


def test_every_query_names_only_exposed_metrics(exposed: set[str]) -> None:
    unknown = {
        (title, name)
        for title, target in targets()
        for name in _METRIC.findall(target["expr"])
        if name not in exposed
    }
    assert not unknown


def test_the_dashboard_shows_what_it_is_for() -> None:
    named = {name for _, target in targets() for name in _METRIC.findall(target["expr"])}
    assert named >= WANTED


def test_counters_are_read_as_rates_never_raw() -> None:
    for title, target in targets():
        for name in _METRIC.findall(target["expr"]):
            if name.endswith(("_total", "_bucket")):
                # A raw counter resets with every restart: only its rate or increase means
                # something on a graph.
                assert re.search(rf"(rate|increase)\({name}\[", target["expr"]), title


def test_it_is_a_dashboard_grafana_can_import() -> None:
    board = dashboard()
    assert board["title"] and board["uid"] and isinstance(board["schemaVersion"], int)
    (variable,) = board["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${" + variable["name"] + "}"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(set(ref_ids)) == len(ref_ids)
        assert all(target["expr"].strip() for target in panel["targets"])
    # No two panels overlap.
    cells = set()
    for panel in panels:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
