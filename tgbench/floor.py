"""This machine's CPU floor: how fast one core runs AES-256-IGE, the cipher every MTProto byte
passes through once on the way in."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import tgcrypto


def aes_ige_mb_s(
    seconds: float = 0.5, block: int = 1 << 20, clock: Callable[[], float] = time.perf_counter
) -> float:
    """MB/s of AES-256-IGE decryption on this thread, timed by `clock` (the wall clock by
    default; time.thread_time for CPU time, which other processes' turns do not swell)."""
    key, iv, data = os.urandom(32), os.urandom(32), os.urandom(block)
    done = 0
    started = clock()
    while (elapsed := clock() - started) < seconds:
        tgcrypto.ige256_decrypt(data, key, iv)
        done += block
    return done / elapsed / 1e6
