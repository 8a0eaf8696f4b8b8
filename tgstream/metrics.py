"""Prometheus metrics of one server, in their own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.bytes_served = Counter(
            "tgstream_bytes_served", "Body bytes sent to viewers", registry=r
        )
        self.parts_fetched = Counter(
            "tgstream_parts_fetched", "upload.getFile parts fetched", ["dc"], registry=r
        )
        self.upstream_bytes = Counter(
            "tgstream_upstream_bytes", "Bytes received from Telegram", ["dc"], registry=r
        )
        self.migrations = Counter(
            "tgstream_file_migrations", "FILE_MIGRATE_X answers seen", registry=r
        )
        self.auth_keys_created = Counter(
            "tgstream_auth_keys_created", "Auth keys created (handshakes)", ["dc"], registry=r
        )
        self.auth_imports = Counter(
            "tgstream_auth_imports", "Authorizations imported on foreign DCs", ["dc"], registry=r
        )
        self.flood_waits = Counter(
            "tgstream_flood_waits", "FLOOD_WAIT answers seen", ["method"], registry=r
        )
        self.reference_refreshes = Counter(
            "tgstream_file_reference_refreshes", "FILE_REFERENCE_EXPIRED recoveries", registry=r
        )
        self.part_retries = Counter(
            "tgstream_part_retries", "Part fetches retried after an error", registry=r
        )
        self.deadline_misses = Counter(
            "tgstream_deadline_misses",
            "Requests answered 503 because Telegram did not answer before the deadline",
            registry=r,
        )
        self.cache_hits = Counter("tgstream_cache_hits", "Part cache hits", registry=r)
        self.cache_misses = Counter("tgstream_cache_misses", "Part cache misses", registry=r)
        self.active_streams = Gauge("tgstream_active_streams", "Responses in progress", registry=r)
        self.streams = Counter(
            "tgstream_streams", "Finished responses by outcome", ["outcome"], registry=r
        )
        self.ttfb = Histogram(
            "tgstream_time_to_first_byte_seconds",
            "From request to the first body byte",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
