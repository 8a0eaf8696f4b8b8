"""Medians, ratios, ceilings and targets of a bench run, and the printed table: no I/O."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, NamedTuple

from . import replicas_report
from .lineup import Contender
from .scenarios import SCENARIOS, Workload
from .stats import median

BASELINES = ("naive", "sequential")
TOLERATED = {"time bound reached"}  # slow, not wrong: a crowd viewer the bound cut off


class Figure(NamedTuple):
    key: str
    label: str
    higher_is_better: bool
    fmt: str = "{:.1f}"


SPECIFIC: dict[str, list[Figure]] = {
    "single": [
        Figure("mb_s", "MB/s, one viewer", True),
        Figure("cold_ttfb_ms", "first byte of a cold server, ms", False, "{:.0f}"),
    ],
    "seeks": [
        Figure("ttfb_p50_ms", "time to first byte p50, ms", False, "{:.0f}"),
        Figure("ttfb_p95_ms", "time to first byte p95, ms", False, "{:.0f}"),
    ],
    "crowd_many": [
        Figure("mb_s", "total MB/s", True),
        Figure("ttfb_p95_ms", "time to first byte p95, ms", False, "{:.0f}"),
    ],
    "crowd_one": [
        Figure("mb_s", "total MB/s", True),
        Figure("ttfb_p95_ms", "time to first byte p95, ms", False, "{:.0f}"),
        Figure("upstream_per_unique", "upstream bytes / file size", False, "{:.2f}"),
    ],
    "restart": [
        Figure("ttfb_ms", "first byte after restart, ms", False, "{:.0f}"),
    ],
}
COMMON = [
    Figure("errors", "errors", False, "{:.0f}"),
    Figure("file_migrate", "FILE_MIGRATE errors", False, "{:.0f}"),
    Figure("auth_keys", "auth keys created", False, "{:.0f}"),
    Figure("imports", "authorizations imported", False, "{:.0f}"),
    Figure("getfile_requests", "getFile requests", False, "{:.0f}"),
    Figure("upstream_per_served", "upstream bytes / served", False, "{:.2f}"),
    Figure("peak_rss_mb", "server peak RSS, MB", False, "{:.0f}"),
    Figure("cpu_s_per_gb", "server CPU s per GB served", False, "{:.1f}"),
]
TITLES = {
    "single": "1. one viewer downloads the {single_mib} MiB file",
    "seeks": "2. {seeks} random seeks into the {seek_file_mib} MiB file, {seek_read_kib} KiB each",
    "crowd_many": "3a. {crowd} viewers of {crowd} different {crowd_file_mib} MiB files",
    "crowd_one": "3b. {crowd} viewers of one {shared_file_mib} MiB file",
    "restart": "4. restart the server, then one request",
}
THROUGHPUT = {("single", "mb_s"), ("crowd_many", "mb_s"), ("crowd_one", "mb_s")}


def ceiling_mb_s(contender: Contender, network: dict[str, Any]) -> float:
    """What the shaped network allows one contender on one DC."""
    return float(
        min(
            contender.connections * network["connection_mb_s"],
            contender.bots * network["account_mb_s"],
        )
    )


def ratio(value: float | None, best: float | None, higher_is_better: bool) -> float | None:
    """How many times better than the best baseline (> 1 is better, whatever the unit)."""
    if value is None or best is None:
        return None
    if higher_is_better:
        return value / best if best else None
    if value == 0:
        return None if best else 1.0
    return best / value


def _derived(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if result.get("unique_bytes"):
        out["upstream_per_unique"] = result["upstream_bytes"] / result["unique_bytes"]
    return out


def bytes_correct(raw: dict[str, list[dict[str, Any]]]) -> bool:
    """Every request of every contender ended with correct bytes (or hit a crowd's bound)."""
    return all(
        set(scenario["error_kinds"]) <= TOLERATED and scenario["served_bytes"] > 0
        for runs in raw.values()
        for run in runs
        for scenario in run.values()
    )


def summarize(
    contenders: list[Contender],
    raw: dict[str, list[dict[str, Any]]],
    work: Workload,
    network: dict[str, Any],
    aes_mb_s: float,
) -> dict[str, Any]:
    medians: dict[str, dict[str, dict[str, float | None]]] = {}
    for c in contenders:
        medians[c.name] = {}
        for scenario in SCENARIOS:
            runs = [_derived(run[scenario]) for run in raw[c.name]]
            keys = {f.key for f in SPECIFIC[scenario] + COMMON}
            medians[c.name][scenario] = {k: median([r.get(k) for r in runs]) for k in keys}
    rows = []
    for scenario in SCENARIOS:
        for fig in SPECIFIC[scenario] + COMMON:
            values = {c.name: medians[c.name][scenario][fig.key] for c in contenders}
            present = [values[b] for b in BASELINES if values.get(b) is not None]
            best = (max if fig.higher_is_better else min)(present) if present else None  # type: ignore[type-var]
            rows.append(
                {
                    "scenario": scenario,
                    "figure": fig.key,
                    "label": fig.label,
                    "higher_is_better": fig.higher_is_better,
                    "values": values,
                    "best_baseline": best,
                    # Ratios only for what a scenario is about; counters speak for themselves.
                    "ratios": {
                        c.name: ratio(values[c.name], best, fig.higher_is_better)
                        for c in contenders
                        if c.name not in BASELINES and fig in SPECIFIC[scenario]
                    },
                }
            )
    floor = 1e9 / (aes_mb_s * 1e6)
    result: dict[str, Any] = {
        "workload": asdict(work),
        "network": network,
        "aes_ige_mb_s": aes_mb_s,
        "cpu_floor_s_per_gb": floor,
        "contenders": [{**asdict(c), "ceiling_mb_s": ceiling_mb_s(c, network)} for c in contenders],
        "runs": raw,
        "medians": medians,
        "rows": rows,
        "all_bytes_correct": bytes_correct(raw),
    }
    result["targets"] = targets(result)
    return result


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for tgstream with its defaults, each with its verdict."""
    m = result["medians"]["tgstream"]
    seq = result["medians"]["sequential"]
    ceiling = next(c["ceiling_mb_s"] for c in result["contenders"] if c["name"] == "tgstream")
    rtt = result["network"]["rtt_ms"]
    floor = result["cpu_floor_s_per_gb"]
    bulk = ("single", "crowd_many", "crowd_one")
    checks: list[tuple[str, float | None, str, bool]] = []

    def check(name: str, value: float | None, limit: str, met: bool) -> None:
        checks.append((name, value, limit, met))

    single = m["single"]["mb_s"] or 0.0
    seq_single = seq["single"]["mb_s"] or 0.0
    check(
        "single stream vs sequential",
        single / seq_single if seq_single else None,
        ">= 4x",
        bool(seq_single) and single >= 4 * seq_single,
    )
    check("single stream vs ceiling", single / ceiling, ">= 0.80", single >= 0.8 * ceiling)
    p50 = m["seeks"]["ttfb_p50_ms"]
    check("seek p50, ms", p50, f"<= {rtt + 50}", p50 is not None and p50 <= rtt + 50)
    errors = (m["crowd_many"]["errors"] or 0) + (m["crowd_one"]["errors"] or 0)
    check("crowd errors", errors, "== 0", errors == 0)
    migrations = sum(m[s]["file_migrate"] or 0 for s in SCENARIOS)
    check("FILE_MIGRATE, all scenarios", migrations, "== 0", migrations == 0)
    fresh = (m["restart"]["auth_keys"] or 0) + (m["restart"]["imports"] or 0)
    check("keys + imports after restart", fresh, "== 0", fresh == 0)
    upstream = m["crowd_one"]["upstream_per_unique"]
    check(
        "one-file crowd upstream / file",
        upstream,
        "<= 1.1",
        upstream is not None and upstream <= 1.1,
    )
    rss = max(m[s]["peak_rss_mb"] or 0.0 for s in SCENARIOS)
    check("server peak RSS, MB", rss, "<= 300", rss <= 300)
    cpu = max(m[s]["cpu_s_per_gb"] or 0.0 for s in bulk)
    check("CPU s/GB (bulk scenarios) vs AES floor", cpu / floor, "<= 2x", cpu <= 2 * floor)
    return [{"target": n, "value": v, "limit": lim, "met": ok} for n, v, lim, ok in checks]


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def table(result: dict[str, Any]) -> str:
    """The contenders' scenarios and targets, scenario 5 (replicas), or both, as run."""
    net = result["network"]
    lines = [
        f"tgstream bench: DC {net['dc']} at {net['rtt_ms']} ms RTT, "
        f"{net['connection_mb_s']:.0f} MB/s per connection, account cap "
        f"{net['account_mb_s']:.0f} MB/s; medians of {_runs(result)} run(s)"
        + ("; (xN) = times better than the best baseline" if "contenders" in result else ""),
        "",
    ]
    if "contenders" in result:
        lines += _contenders(result)
    if "replicas" in result:
        lines += [*replicas_report.lines(result["replicas"], result["workload"]), ""]
    lines.append(
        f"CPU floor: AES-256-IGE on one core {result['aes_ige_mb_s']:.0f} MB/s "
        f"= {result['cpu_floor_s_per_gb']:.1f} CPU s per GB"
    )
    if "targets" in result:
        lines += ["", "targets for tgstream (defaults):"]
        for t in result["targets"]:
            value = "-" if t["value"] is None else f"{t['value']:.2f}"
            lines.append(
                f"  {'met   ' if t['met'] else 'MISSED'} {t['target']:<40}{value:>10}  {t['limit']}"
            )
    lines.append("")
    who = "contender" if "contenders" in result else "replica"
    lines.append(
        f"every {who} served correct bytes: {'yes' if result['all_bytes_correct'] else 'NO'}"
    )
    if "seconds" in result:
        lines.append(f"bench took {result['seconds']:.0f} s")
    return "\n".join(lines)


def _runs(result: dict[str, Any]) -> int:
    if "runs" in result:
        return len(next(iter(result["runs"].values())))
    return int(result["runs_per_figure"])


def _contenders(result: dict[str, Any]) -> list[str]:
    names = [c["name"] for c in result["contenders"]]
    ours = [n for n in names if n not in BASELINES]
    work = result["workload"]
    width = 40
    lines = [" " * width + "".join(f"{n:>16}" for n in names)]
    figures = {f.key: f for figs in SPECIFIC.values() for f in figs + COMMON}
    for scenario in SCENARIOS:
        lines.append(TITLES[scenario].format(**work))
        for row in (r for r in result["rows"] if r["scenario"] == scenario):
            fmt = figures[row["figure"]].fmt
            cells = []
            for n in names:
                text = _cell(row["values"][n], fmt)
                r = row["ratios"].get(n)
                if n in ours and r is not None:
                    text += f" (x{r:.1f})"
                cells.append(f"{text:>16}")
            lines.append(f"  {row['label']:<{width - 2}}" + "".join(cells))
            if (scenario, row["figure"]) in THROUGHPUT:
                ceilings = [f"{c['ceiling_mb_s']:.0f}" for c in result["contenders"]]
                lines.append(
                    f"  {'  ceiling, MB/s':<{width - 2}}" + "".join(f"{c:>16}" for c in ceilings)
                )
    lines.append("")
    return lines
