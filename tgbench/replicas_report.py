"""Scenario 5's medians, ceilings, verdict and printed section, and the notes on what bounds
it on the machine it ran on: no I/O."""

from __future__ import annotations

import textwrap
from typing import Any, NamedTuple

from .stats import median

TOLERATED = {"time bound reached"}  # slow, not wrong: a viewer the bound cut off
# What replicas 2..N must never cost Telegram, nor meet (counted once replica 1 was warm).
NOTHING_NEW = ("auth_keys", "imports", "sign_ins", "auth_key_duplicated")


class Figure(NamedTuple):
    key: str
    label: str
    fmt: str = "{:.0f}"


FIGURES = [
    Figure("mb_s", "total MB/s", "{:.1f}"),
    Figure("ttfb_p50_ms", "first byte p50 (per viewer), ms"),
    Figure("ttfb_p95_ms", "first byte p95 (per viewer), ms"),
    Figure("errors", "errors"),
    Figure("cpu_s_per_gb", "CPU s per GB, replicas summed", "{:.1f}"),
    Figure("haproxy_cpu_s_per_gb", "HAProxy CPU s per GB", "{:.1f}"),
    Figure("upstream_per_served", "upstream bytes / served", "{:.2f}"),
    Figure("busy_cores", "cores busy, every process", "{:.2f}"),
    Figure("file_migrate", "FILE_MIGRATE errors"),
]
# Once replica 1 was warm: replicas 2..N started, made their first request, then the load.
AFTER_FIRST = [
    Figure("auth_keys", "  auth keys created"),
    Figure("imports", "  authorizations imported"),
    Figure("sign_ins", "  bot sign-ins"),
    Figure("auth_key_duplicated", "  AUTH_KEY_DUPLICATED answers"),
]
SCALAR_KEYS = [f.key for f in FIGURES + AFTER_FIRST] + ["served_bytes", "wall_s", "cpu_s"]


def ceiling_mb_s(replicas: int, connections: int, bots: int, network: dict[str, Any]) -> float:
    """What the shaped network allows N replicas of `bots` bots on one DC: each replica opens
    its own connections, but they all draw on the same accounts."""
    return float(
        min(
            replicas * connections * network["connection_mb_s"],
            bots * network["account_mb_s"],
        )
    )


def _elementwise(lists: list[list[float]]) -> list[float | None]:
    return [median(column) for column in zip(*lists, strict=True)]


def summarize_one(
    replicas: int, runs: list[dict[str, Any]], connections: int, network: dict[str, Any]
) -> dict[str, Any]:
    """Medians over the runs of one replica count (per-replica lists element by element)."""
    medians = {k: median([run.get(k) for run in runs]) for k in SCALAR_KEYS}
    cold = {k: median([run["cold"][k] for run in runs]) for k in runs[0]["cold"]}
    return {
        "replicas": replicas,
        "viewers": runs[0]["viewers"],
        "ceiling_mb_s": ceiling_mb_s(replicas, connections, 1, network),
        "medians": medians,
        "cold": cold,
        "spread": _elementwise([run["spread"] for run in runs]),
        "peak_rss_mb_each": _elementwise([run["peak_rss_mb_each"] for run in runs]),
    }


def bytes_correct(raw: list[dict[str, Any]]) -> bool:
    """Every viewer of every run got correct bytes (or hit the bound), and some came."""
    return all(
        set(run["error_kinds"]) <= TOLERATED and run["served_bytes"] > 0
        for entry in raw
        for run in entry["runs"]
    )


def nothing_new(raw: list[dict[str, Any]]) -> bool:
    """No run of any replica count cost a key, import or sign-in once replica 1 was warm,
    and none met AUTH_KEY_DUPLICATED."""
    return all(run[k] == 0 for entry in raw for run in entry["runs"] for k in NOTHING_NEW)


def notes(rows: list[dict[str, Any]], network: dict[str, Any], cores: int) -> list[str]:
    """What bounds the figures on this machine, in the words the report prints."""
    most = max(rows, key=lambda row: row["replicas"])
    busy = most["medians"]["busy_cores"]
    busy_text = "-" if busy is None else f"{busy:.1f}"
    return [
        f"Every process of a run shares this machine's {cores} cores: the replicas, HAProxy, "
        f"Redis, the emulator (which encrypts every byte a replica decrypts) and the viewers "
        f"(which hash every byte). With {most['replicas']} replicas they kept {busy_text} of "
        f"the {cores} busy: replicas on one machine split its cores, they add none.",
        f"The replicas share one bot, so the emulator's account cap "
        f"({network['account_mb_s']:.0f} MB/s, the ceiling row) bounds the total for any "
        f"number of replicas. More replicas raise the CPU and memory bounds; more bots "
        f"(MULTI_TOKEN) raise the Telegram one.",
        "CPU s per GB is summed over the replicas: the work a GB costs, which more replicas "
        "share out and do not shrink.",
    ]


def summarize(
    raw: list[dict[str, Any]], connections: int, network: dict[str, Any], cores: int
) -> dict[str, Any]:
    rows = [summarize_one(e["replicas"], e["runs"], connections, network) for e in raw]
    return {
        "raw": raw,
        "rows": rows,
        "cores": cores,
        "notes": notes(rows, network, cores),
        "nothing_new": nothing_new(raw),
        "bytes_correct": bytes_correct(raw),
    }


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _joined(values: list[float | None], fmt: str) -> str:
    return "/".join(_cell(v, fmt) for v in values)


def lines(result: dict[str, Any], work: dict[str, Any], width: int = 40) -> list[str]:
    """The printed section: one column per replica count."""
    rows = result["rows"]
    heads = [f"{r['replicas']} replica{'s' if r['replicas'] > 1 else ''}" for r in rows]
    col = max(16, *(len(_joined(r["peak_rss_mb_each"], "{:.0f}")) + 2 for r in rows))

    def line(label: str, cells: list[str]) -> str:
        return f"  {label:<{width - 2}}" + "".join(f"{c:>{col}}" for c in cells)

    viewers = rows[0]["viewers"]
    out = [
        f"5. N replicas on one Redis behind HAProxy, one bot: {viewers} viewers of {viewers} "
        f"different {work['replica_file_mib']} MiB files",
        " " * width + "".join(f"{h:>{col}}" for h in heads),
    ]
    for fig in FIGURES:
        out.append(line(fig.label, [_cell(r["medians"][fig.key], fig.fmt) for r in rows]))
        if fig.key == "mb_s":
            out.append(line("  ceiling, MB/s", [f"{r['ceiling_mb_s']:.0f}" for r in rows]))
    out.append(line("viewers per replica", [_joined(r["spread"], "{:.0f}") for r in rows]))
    out.append(
        line("peak RSS per replica, MB", [_joined(r["peak_rss_mb_each"], "{:.0f}") for r in rows])
    )
    out.append(
        line(
            "replica 1 cold: keys/imports/sign-ins",
            [
                _joined([r["cold"][k] for k in ("auth_keys", "imports", "sign_ins")], "{:.0f}")
                for r in rows
            ],
        )
    )
    out.append("  once replica 1 was warm (replicas 2..N started, then the load):")
    for fig in AFTER_FIRST:
        out.append(line(fig.label, [_cell(r["medians"][fig.key], fig.fmt) for r in rows]))
    verdict = "met   " if result["nothing_new"] else "MISSED"
    out += [
        f"  {verdict} replicas 2..N: no new key, import or sign-in on any DC, in any run",
        "  what bounds it here:",
    ]
    for note in result["notes"]:
        out += textwrap.wrap(note, 96, initial_indent="  - ", subsequent_indent="    ")
    return out
