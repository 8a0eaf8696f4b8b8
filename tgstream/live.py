"""The live collector: what the running objects keep, read at scrape time.

Counts an object keeps for its own work (the part cache's hits, the DC map's lookups, the
flood policy's waits, the pools' keys and imports) and live sizes (connections, requests in
flight, bytes cached) are published here rather than copied into Prometheus counters, so
/metrics and /status can never disagree with the object, or with each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .store import StateStore
from .streaming.cache import PartCache
from .streaming.pipeline import LiveTasks
from .telegram.dcmap import DcMap
from .telegram.downloader import BotWorker
from .telegram.flood import FloodPolicy
from .telegram.resolver import FileResolver


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


@dataclass(eq=False)  # registered by identity
class LiveCollector(Collector):
    cache: PartCache
    dcmap: DcMap
    flood: FloodPolicy
    resolver: FileResolver
    workers: Sequence[BotWorker]
    store: StateStore
    tasks: LiveTasks

    def describe(self) -> list[Metric]:
        # Nothing to check at registration: the names are fixed and the objects may not
        # all be built yet.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._cache()
        yield from self._dc_map()
        yield from self._pools()
        yield from self._flood()
        yield from self._resolver()
        yield _counter(
            "tgstream_store_write_failures",
            "Writes to SESSION_DIR that failed (kept in memory)",
            self.store.write_failures,
        )
        yield _gauge("tgstream_pipeline_tasks", "Part prefetch tasks running", self.tasks.count)
        yield _counter(
            "tgstream_stalled_releases",
            "Streams whose viewer stopped reading and whose parts were let go",
            self.tasks.released,
        )

    def _cache(self) -> Iterator[Metric]:
        cache = self.cache
        yield _counter("tgstream_cache_hits", "Part cache hits", cache.hits)
        yield _counter("tgstream_cache_misses", "Part cache misses", cache.misses)
        yield _counter(
            "tgstream_cache_shared_fetches",
            "Part requests that joined a fetch already under way",
            cache.shared,
        )
        yield _gauge("tgstream_cache_bytes", "Bytes in the part cache", cache.size)
        yield _gauge("tgstream_cache_entries", "Parts in the part cache", len(cache.entries))
        yield _gauge("tgstream_cache_budget_bytes", "Part cache budget", cache.budget)
        yield _gauge("tgstream_cache_inflight", "Parts being fetched for the cache", cache.inflight)
        yield from self._disk()

    def _disk(self) -> Iterator[Metric]:
        disk = self.cache.disk
        yield _counter("tgstream_disk_cache_hits", "Parts read from the disk tier", disk.hits)
        yield _counter(
            "tgstream_disk_cache_misses", "Parts looked for on disk and not found", disk.misses
        )
        yield _counter(
            "tgstream_disk_cache_read_bytes", "Bytes read from the disk tier", disk.bytes_read
        )
        yield _counter(
            "tgstream_disk_cache_written_bytes",
            "Bytes written to the disk tier",
            disk.bytes_written,
        )
        yield _counter(
            "tgstream_disk_cache_evictions",
            "Parts evicted from the disk tier by its budget (this server's writes)",
            disk.evictions,
        )
        yield _counter(
            "tgstream_disk_cache_corrupt",
            "Parts read back from disk that no longer matched their SHA-256 (dropped, refetched)",
            disk.corrupt,
        )
        yield _counter(
            "tgstream_disk_cache_skipped_writes",
            "Parts not written to disk because its index stayed busy",
            disk.skipped_writes,
        )
        yield _gauge("tgstream_disk_cache_bytes", "Bytes the disk tier holds", disk.used)
        yield _gauge("tgstream_disk_cache_budget_bytes", "Disk tier budget", disk.budget)
        state = GaugeMetricFamily(
            "tgstream_disk_cache_state", "1 for the disk tier's state", labels=["state"]
        )
        for name in ("on", "off", "degraded"):
            state.add_metric([name], 1 if disk.state == name else 0)
        yield state

    def _dc_map(self) -> Iterator[Metric]:
        yield _counter("tgstream_dc_map_lookups", "File DC lookups", self.dcmap.lookups)
        yield _counter(
            "tgstream_file_migrations",
            "FILE_MIGRATE_X answers seen (each teaches the DC map a file's DC)",
            self.dcmap.learned,
        )
        yield _gauge("tgstream_dc_map_size", "Files in the DC map", self.store.dc_map_size())

    def _pools(self) -> Iterator[Metric]:
        keys = CounterMetricFamily(
            "tgstream_auth_keys_created", "Auth keys created (handshakes)", labels=["bot", "dc"]
        )
        imports = CounterMetricFamily(
            "tgstream_auth_imports",
            "Authorizations imported on foreign DCs",
            labels=["bot", "dc"],
        )
        load = GaugeMetricFamily("tgstream_bot_load", "Part fetches in progress", labels=["bot"])
        connections = GaugeMetricFamily(
            "tgstream_dc_connections", "Open connections of a DC pool", labels=["bot", "dc"]
        )
        inflight = GaugeMetricFamily(
            "tgstream_dc_inflight", "Requests sent on a DC pool, unanswered", labels=["bot", "dc"]
        )
        queued = GaugeMetricFamily(
            "tgstream_dc_queued", "Requests waiting for a slot on a DC pool", labels=["bot", "dc"]
        )
        total_inflight = 0
        for worker in self.workers:
            bot, registry = str(worker.bot.bot_id), worker.registry
            load.add_metric([bot], worker.bot.load)
            for dc, count in sorted(registry.keys_created.items()):
                keys.add_metric([bot, str(dc)], count)
            for dc, count in sorted(registry.imports.items()):
                imports.add_metric([bot, str(dc)], count)
            for dc, pool in sorted(registry.pools.items()):
                labels = [bot, str(dc)]
                connections.add_metric(labels, len(pool.members))
                inflight.add_metric(labels, sum(m.inflight for m in pool.members))
                queued.add_metric(labels, pool.slots.waiting)
            total_inflight += registry.inflight()
        yield from (keys, imports, load, connections, inflight, queued)
        yield _gauge(
            "tgstream_upstream_inflight",
            "upload.getFile requests unanswered, on every connection (reset pools' included)",
            total_inflight,
        )

    def _flood(self) -> Iterator[Metric]:
        flood = self.flood
        waits = CounterMetricFamily(
            "tgstream_flood_waits", "FLOOD_WAIT answers seen", labels=["method"]
        )
        for method, count in sorted(flood.waits.items()):
            waits.add_metric([method], count)
        yield waits
        yield _counter(
            "tgstream_flood_waits_slept", "FLOOD_WAITs slept by their request", flood.waits_slept
        )
        yield _counter(
            "tgstream_flood_failovers",
            "FLOOD_WAITs that moved work to another bot",
            flood.failovers,
        )
        benched = GaugeMetricFamily(
            "tgstream_flood_benched_seconds",
            "Seconds a bot must still wait before calling a method",
            labels=["bot", "method"],
        )
        for bot, method, seconds in flood.benched():
            benched.add_metric([str(bot), method], seconds)
        yield benched

    def _resolver(self) -> Iterator[Metric]:
        seen = self.resolver.snapshot()
        yield _gauge("tgstream_files_resolved", "Files resolved in memory", seen["files_resolved"])
        yield _counter(
            "tgstream_message_fetches", "Bin-channel messages fetched", seen["message_fetches"]
        )
        yield _counter("tgstream_file_rechecks", "Files rechecked with Telegram", seen["rechecks"])
        yield _counter(
            "tgstream_file_reference_refreshes",
            "FILE_REFERENCE_EXPIRED recoveries (message fetched again)",
            seen["file_reference_refreshes"],
        )
        yield _gauge(
            "tgstream_missing_cached", "Message ids remembered as missing", seen["missing_cached"]
        )
        yield _counter(
            "tgstream_missing_hits",
            "Requests for a missing message answered without calling Telegram",
            seen["missing_hits"],
        )
        unreadable = GaugeMetricFamily(
            "tgstream_bin_channel_unreadable",
            "1 for a bot that cannot read the bin channel, with Telegram's error",
            labels=["bot", "error"],
        )
        for bot, error in sorted(seen["bin_channel_unreadable_by"].items()):
            unreadable.add_metric([bot, error], 1)
        yield unreadable
