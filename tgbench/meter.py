"""What is read off the processes a bench run starts: RSS and CPU from /proc.  (They are
started by tgemu.launch, the launcher the tests and the demo use too.)"""

from __future__ import annotations

import contextlib
import os
import threading

_TICK = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        # Fields after the parenthesised command name; utime and stime are 14th and 15th.
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Meter:
    """Peak RSS (sampled every 20 ms) and CPU seconds of one process over one scenario."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._cpu0 = cpu_seconds(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_bytes(self.pid))

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError):
            self.peak = max(self.peak, rss_bytes(self.pid))
        return {"peak_rss_mb": self.peak / 1e6, "cpu_s": cpu_seconds(self.pid) - self._cpu0}
