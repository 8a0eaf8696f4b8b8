"""Media: what a file holds (probe), and HLS made of it (segments, playlists, PyAV jobs).

It reads file bytes only through the streaming side (a ByteSource: the range path /dl uses,
its part cache and failure policy), in worker threads, never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..metrics import Metrics
from ..store import StateStore
from ..streaming.cache import PartCache
from .jobs import SegmentJobs, TranscodeBusy
from .probe import MediaProbe
from .probing import MediaProbes, NotMedia
from .reader import ByteSource


@dataclass
class Media:
    probes: MediaProbes
    jobs: SegmentJobs

    @classmethod
    def build(
        cls, files: ByteSource, store: StateStore, cache: PartCache, slots: int, metrics: Metrics
    ) -> Media:
        return cls(MediaProbes(files, store), SegmentJobs(files, cache, slots, metrics))

    def over(self, files: ByteSource) -> Media:
        """This media over `files`: itself if those are its own, else a new one sharing the
        store, cache, slots and metrics (the app over other files, in tests)."""
        if files is self.probes.files:
            return self
        jobs = self.jobs
        return Media.build(files, self.probes.store, jobs.cache, jobs.slots, jobs.metrics)

    def close(self) -> None:
        self.probes.close()
        self.jobs.close()


__all__ = ["ByteSource", "Media", "MediaProbe", "MediaProbes", "NotMedia", "TranscodeBusy"]
