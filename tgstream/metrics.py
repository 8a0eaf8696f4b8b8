"""Prometheus metrics of one server, in their own registry.

Every number is kept in one place.  What no other object keeps (bytes served, parts fetched,
retries, responses by outcome) is a Prometheus counter here, counted where it happens; what
an object already keeps for its own work (the part cache's hits, the DC map's lookups, the
flood policy's waits, the pools' connections) is read from it at scrape time by the live
collector (live.py), never copied.  /metrics and /status (status.py) both read the registry.
"""

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
        self.part_retries = Counter(
            "tgstream_part_retries", "Part fetches retried after an error", registry=r
        )
        self.part_mismatches = Counter(
            "tgstream_part_mismatches",
            "upload.getFile answers that failed Telegram's SHA-256 (upload.getFileHashes) "
            "and were fetched again or given up, never served",
            registry=r,
        )
        self.deadline_misses = Counter(
            "tgstream_deadline_misses",
            "Requests answered 503 because Telegram did not answer before the deadline",
            registry=r,
        )
        self.active_streams = Gauge("tgstream_active_streams", "Responses in progress", registry=r)
        self.streams = Counter(
            "tgstream_streams", "Finished responses by outcome", ["outcome"], registry=r
        )
        self.responses = Counter(
            "tgstream_responses",
            "Responses by route (the route's path template) and HTTP status",
            ["route", "status"],
            registry=r,
        )
        self.link_refusals = Counter(
            "tgstream_link_refusals",
            "Link requests refused, by reason: forged, expired, revoked, rate-limited",
            ["reason"],
            registry=r,
        )
        self.ttfb = Histogram(
            "tgstream_time_to_first_byte_seconds",
            "From request to the first body byte",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        # HLS segment jobs (tgstream.media.jobs), bounded by TRANSCODE_SLOTS.
        self.transcode_jobs = Counter(
            "tgstream_transcode_jobs",
            "HLS segment jobs by outcome: made, busy (answered 503), failed, cancelled",
            ["outcome"],
            registry=r,
        )
        self.transcode_running = Gauge(
            "tgstream_transcode_running", "HLS segment jobs running now", registry=r
        )
        self.transcode_peak = Gauge(
            "tgstream_transcode_running_peak",
            "Most HLS segment jobs that ever ran at once (TRANSCODE_SLOTS bounds it)",
            registry=r,
        )
        self.transcode_cpu = Counter(
            "tgstream_transcode_cpu_seconds",
            "CPU seconds of the worker threads making HLS segments, by rendition kind",
            ["kind"],
            registry=r,
        )
        self.transcoded_audio = Counter(
            "tgstream_transcoded_audio_seconds",
            "Seconds of audio transcoded to AAC for HLS",
            registry=r,
        )
