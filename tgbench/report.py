"""Medians, ratios, ceilings and targets of a bench run, and the printed table: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, NamedTuple

from . import replicas_report
from .lineup import Contender
from .scenarios import SCENARIOS, TRACE_SCENARIOS, TRACES, Workload
from .stats import median
from .trace import cut

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
TRACE_FIGURES = [
    Figure("ttfb_p50_ms", "first byte per seek p50, ms", False, "{:.0f}"),
    Figure("ttfb_p95_ms", "first byte per seek p95, ms", False, "{:.0f}"),
    Figure("to_4mib_p50_ms", "4 MiB after a seek p50, ms", False, "{:.0f}"),
    Figure("to_4mib_p95_ms", "4 MiB after a seek p95, ms", False, "{:.0f}"),
    Figure("seeks_short_of_4mib", "seeks hung up short of 4 MiB", False, "{:.0f}"),
]
SPECIFIC.update({name: TRACE_FIGURES for name in TRACE_SCENARIOS})
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
TITLES.update(
    {
        f"trace_{t.name}": f"2{chr(ord('b') + i)}. {t.player}'s recorded seeks replayed, "
        f"{{trace_requests_{t.name}}} requests over {{trace_seconds_{t.name}:.0f}} s "
        f"in a {t.file_bytes / 1e6:.0f} MB film"
        for i, t in enumerate(TRACES)
    }
)
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
            # A scenario left out (`--only`) has every figure missing.
            runs = [_derived(run[scenario]) for run in raw[c.name] if scenario in run]
            keys = {f.key for f in SPECIFIC[scenario] + COMMON}
            medians[c.name][scenario] = {k: median([r.get(k) for r in runs]) for k in keys}
    ran = [s for s in SCENARIOS if any(s in run for runs in raw.values() for run in runs)]
    rows = []
    for scenario in ran:
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
        "traces": {
            t.name: {"player": t.player, "requests": len(t.requests), "seconds": t.seconds}
            for t in (cut(t, work.trace_requests, work.trace_speed) for t in TRACES)
        },
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


class Target(NamedTuple):
    name: str
    limit: str
    # The figure for one contender's medians, given the whole result (for the baselines,
    # the network and the floor); None where it was not measured.
    value: Callable[[dict[str, Any], dict[str, Any]], float | None]
    met: Callable[[float, dict[str, Any]], bool]


def _rtt(result: dict[str, Any]) -> float:
    return float(result["network"]["rtt_ms"])


def _cap(result: dict[str, Any]) -> float:
    return float(result["network"]["account_mb_s"])


def _share(mb_s: float | None, result: dict[str, Any]) -> float | None:
    return None if mb_s is None else mb_s / _cap(result)


def _worst(values: list[float | None], higher_is_better: bool = False) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present) if higher_is_better else max(present)


def _ratio_to_sequential(m: dict[str, Any], result: dict[str, Any]) -> float | None:
    seq = result["medians"]["sequential"]["single"]["mb_s"]
    ours = m["single"]["mb_s"]
    return ours / seq if ours is not None and seq else None


def _per_served(scenario: str) -> Callable[[dict[str, Any], dict[str, Any]], float | None]:
    return lambda m, _: m[scenario]["upstream_per_served"]


def _seek_ttfb(pct: str) -> Callable[[dict[str, Any], dict[str, Any]], float | None]:
    """The worse of the 256 KiB seeks' and every player trace's first byte percentile."""
    return lambda m, _: _worst([m[s][f"ttfb_{pct}_ms"] for s in ("seeks", *TRACE_SCENARIOS)])


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def _errors(m: dict[str, Any], _: dict[str, Any]) -> float | None:
    return _sum([m["crowd_many"]["errors"], m["crowd_one"]["errors"]])


def _migrations(m: dict[str, Any], _: dict[str, Any]) -> float | None:
    return _sum([m[s]["file_migrate"] for s in SCENARIOS])


def _fresh(m: dict[str, Any], _: dict[str, Any]) -> float | None:
    return _sum([m["restart"]["auth_keys"], m["restart"]["imports"]])


def _rss(m: dict[str, Any], _: dict[str, Any]) -> float | None:
    return _worst([m[s]["peak_rss_mb"] for s in SCENARIOS])


def _cpu_vs_floor(m: dict[str, Any], result: dict[str, Any]) -> float | None:
    worst = _worst([m[s]["cpu_s_per_gb"] for s in BULK])
    return worst / result["cpu_floor_s_per_gb"] if worst is not None else None


BULK = ("single", "crowd_many", "crowd_one")
TARGETS = [
    # Issue 19 (the second round).
    *(
        Target(
            f"{name[len('trace_') :]} trace upstream / served",
            "<= 1.5",
            _per_served(name),
            lambda v, _: v <= 1.5,
        )
        for name in TRACE_SCENARIOS
    ),
    Target("256 KiB seeks upstream / served", "<= 4", _per_served("seeks"), lambda v, _: v <= 4),
    Target(
        "seek first byte p50 (all seek scenarios), ms",
        "<= RTT + 20",
        _seek_ttfb("p50"),
        lambda v, r: v <= _rtt(r) + 20,
    ),
    Target(
        "seek first byte p95 (all seek scenarios), ms",
        "<= RTT + 60",
        _seek_ttfb("p95"),
        lambda v, r: v <= _rtt(r) + 60,
    ),
    Target(
        "one viewer / account cap",
        ">= 0.95",
        lambda m, r: _share(m["single"]["mb_s"], r),
        lambda v, _: v >= 0.95,
    ),
    Target(
        "20 viewers of 20 files / account cap",
        ">= 0.90",
        lambda m, r: _share(m["crowd_many"]["mb_s"], r),
        lambda v, _: v >= 0.90,
    ),
    Target(
        "CPU s/GB (bulk scenarios) vs AES floor", "<= 1.5x", _cpu_vs_floor, lambda v, _: v <= 1.5
    ),
    Target(
        "first byte, freshly restarted server, ms",
        "<= 2 x RTT + 50",
        lambda m, _: m["restart"]["ttfb_ms"],
        lambda v, r: v <= 2 * _rtt(r) + 50,
    ),
    Target("server peak RSS (every scenario), MB", "<= 250", _rss, lambda v, _: v <= 250),
    # Still held from the first round.
    Target("single stream vs sequential", ">= 4x", _ratio_to_sequential, lambda v, _: v >= 4),
    Target("crowd errors", "== 0", _errors, lambda v, _: v == 0),
    Target("FILE_MIGRATE, all scenarios", "== 0", _migrations, lambda v, _: v == 0),
    Target("keys + imports after restart", "== 0", _fresh, lambda v, _: v == 0),
    Target(
        "one-file crowd upstream / file",
        "<= 1.1",
        lambda m, _: m["crowd_one"]["upstream_per_unique"],
        lambda v, _: v <= 1.1,
    ),
]


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged for tgstream with its defaults; every contender's figure
    beside it, so the baselines are measured by the same rule."""
    out = []
    for t in TARGETS:
        values = {name: t.value(m, result) for name, m in result["medians"].items()}
        ours = values["tgstream"]
        out.append(
            {
                "target": t.name,
                "value": ours,
                "values": values,
                "limit": t.limit,
                "met": ours is not None and t.met(ours, result),
                "measured": ours is not None,
            }
        )
    return out


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
    if "replicas_failed" in result:
        lines += [f"5. replicas behind HAProxy: failed ({result['replicas_failed']})", ""]
    lines.append(
        f"CPU floor: AES-256-IGE on one core {result['aes_ige_mb_s']:.0f} MB/s "
        f"= {result['cpu_floor_s_per_gb']:.1f} CPU s per GB"
    )
    if "targets" in result:
        lines += _targets(result)
    lines.append("")
    who = "contender" if "contenders" in result else "replica"
    lines.append(
        f"every {who} served correct bytes: {'yes' if result['all_bytes_correct'] else 'NO'}"
    )
    if "seconds" in result:
        lines.append(f"bench took {result['seconds']:.0f} s")
    return "\n".join(lines)


def _targets(result: dict[str, Any]) -> list[str]:
    names = [c["name"] for c in result.get("contenders", [])] or ["tgstream"]
    width = 48
    head = " " * (9 + width) + "".join(f"{n:>16}" for n in names) + "  target"
    lines = ["", "targets for tgstream (defaults):", head]
    for t in result["targets"]:
        values = t.get("values") or {"tgstream": t["value"]}
        cells = "".join(f"{_cell(values.get(n), '{:.2f}'):>16}" for n in names)
        verdict = "met   " if t["met"] else "MISSED" if t.get("measured", True) else "n/a   "
        lines.append(f"  {verdict} {t['target']:<{width}}{cells}  {t['limit']}")
    return lines


def _runs(result: dict[str, Any]) -> int:
    if "runs" in result:
        return len(next(iter(result["runs"].values())))
    return int(result["runs_per_figure"])


def _trace_fields(result: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, t in result.get("traces", {}).items():
        fields[f"trace_requests_{name}"] = t["requests"]
        fields[f"trace_seconds_{name}"] = t["seconds"]
    return fields


def _contenders(result: dict[str, Any]) -> list[str]:
    names = [c["name"] for c in result["contenders"]]
    ours = [n for n in names if n not in BASELINES]
    work = result["workload"]
    width = 40
    lines = [" " * width + "".join(f"{n:>16}" for n in names)]
    figures = {f.key: f for figs in SPECIFIC.values() for f in figs + COMMON}
    for scenario in dict.fromkeys(r["scenario"] for r in result["rows"]):
        lines.append(TITLES[scenario].format(**work, **_trace_fields(result)))
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
