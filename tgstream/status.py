"""/status: the registry's numbers (the same /metrics shows), laid out for people, with the
states no number can say (why a bot is not ready, the server's connection counters)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from .service import Services
    from .telegram.bots import BotClient


class Samples:
    """One reading of every sample in a registry, by name and labels."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for metric in registry.collect():
            for sample in metric.samples:
                self.by_name[sample.name].append((sample.labels, sample.value))

    def rows(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [
            (have, value)
            for have, value in self.by_name.get(name, [])
            if all(have.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, **labels: str) -> int:
        """The sum of the matching samples (0 when there are none), as the integer it is."""
        return round(sum(value for _, value in self.rows(name, **labels)))


def render(services: Services) -> dict[str, Any]:
    seen = Samples(services.metrics.registry)
    count = seen.total
    migrations = count("tgstream_file_migrations_total")
    return {
        "ready": services.started,
        "serving": services.serving,
        "not_ready": [bot.state for bot in services.bots if not bot.ready],
        "bots": [_bot(seen, w.bot) for w in services.workers],
        "dc_map": {
            "size": count("tgstream_dc_map_size"),
            "lookups": count("tgstream_dc_map_lookups_total"),
            "learned": migrations,
            "migrations_seen": migrations,
        },
        "files_resolved": count("tgstream_files_resolved"),
        "file_reference_refreshes": count("tgstream_file_reference_refreshes_total"),
        "resolver": _resolver(seen, services.resolver.recheck_seconds),
        "cache": {
            "budget_bytes": count("tgstream_cache_budget_bytes"),
            "bytes": count("tgstream_cache_bytes"),
            "entries": count("tgstream_cache_entries"),
            "hits": count("tgstream_cache_hits_total"),
            "misses": count("tgstream_cache_misses_total"),
            "shared_fetches": count("tgstream_cache_shared_fetches_total"),
            "inflight": count("tgstream_cache_inflight"),
        },
        "disk_cache": {
            "dir": str(services.cache.disk.directory),
            "state": services.cache.disk.state,
            "budget_bytes": count("tgstream_disk_cache_budget_bytes"),
            "bytes": count("tgstream_disk_cache_bytes"),
            "hits": count("tgstream_disk_cache_hits_total"),
            "misses": count("tgstream_disk_cache_misses_total"),
            "read_bytes": count("tgstream_disk_cache_read_bytes_total"),
            "written_bytes": count("tgstream_disk_cache_written_bytes_total"),
            "evictions": count("tgstream_disk_cache_evictions_total"),
            "corrupt": count("tgstream_disk_cache_corrupt_total"),
            "skipped_writes": count("tgstream_disk_cache_skipped_writes_total"),
        },
        "store_write_failures": count("tgstream_store_write_failures_total"),
        "state": {
            "at": services.store.describe(),
            "shared": services.store.shared,
            "available": services.store.available,
        },
        "updates": services.leadership.status(),
        "flood": _flood(seen, services.flood.threshold),
        "upstream_inflight": count("tgstream_upstream_inflight"),
        "upstream_queued": count("tgstream_dc_queued"),
        "pipeline_tasks": count("tgstream_pipeline_tasks"),
        "stalled_releases": count("tgstream_stalled_releases_total"),
        "active_streams": count("tgstream_active_streams"),
        "connections": services.connections() if services.connections is not None else None,
        "open_files_limit": services.open_files_limit,
    }


def _bot(seen: Samples, bot: BotClient) -> dict[str, Any]:
    label = str(bot.bot_id)
    sessions: dict[str, dict[str, int]] = {}
    for labels, value in seen.rows("tgstream_dc_connections", bot=label):
        dc = labels["dc"]
        sessions[dc] = {
            "connections": round(value),
            "inflight": seen.total("tgstream_dc_inflight", bot=label, dc=dc),
            "queued": seen.total("tgstream_dc_queued", bot=label, dc=dc),
        }
    return {
        "bot_id": bot.bot_id,
        "ready": bot.ready,
        "state": bot.state,
        "home_dc": bot.home_dc,
        "load": seen.total("tgstream_bot_load", bot=label),
        "dc_sessions": dict(sorted(sessions.items(), key=lambda item: int(item[0]))),
        "auth_keys_created": seen.total("tgstream_auth_keys_created_total", bot=label),
        "auth_imports": seen.total("tgstream_auth_imports_total", bot=label),
    }


def _resolver(seen: Samples, recheck_seconds: float) -> dict[str, Any]:
    return {
        "files_resolved": seen.total("tgstream_files_resolved"),
        "message_fetches": seen.total("tgstream_message_fetches_total"),
        "rechecks": seen.total("tgstream_file_rechecks_total"),
        "file_reference_refreshes": seen.total("tgstream_file_reference_refreshes_total"),
        "missing_cached": seen.total("tgstream_missing_cached"),
        "missing_hits": seen.total("tgstream_missing_hits_total"),
        "recheck_seconds": recheck_seconds,
        "bin_channel_unreadable_by": {
            labels["bot"]: labels["error"]
            for labels, _ in seen.rows("tgstream_bin_channel_unreadable")
        },
    }


def _flood(seen: Samples, threshold: float) -> dict[str, Any]:
    return {
        "threshold_seconds": threshold,
        "waits_seen": seen.total("tgstream_flood_waits_total"),
        "waits_slept": seen.total("tgstream_flood_waits_slept_total"),
        "failovers": seen.total("tgstream_flood_failovers_total"),
        "blocked": [
            {"bot_id": int(labels["bot"]), "method": labels["method"], "seconds_left": round(v, 1)}
            for labels, v in seen.rows("tgstream_flood_benched_seconds")
        ],
    }
