"""This machine's CPU floor: how fast one core runs AES-256-IGE, the cipher every MTProto byte
passes through once on the way in."""

from __future__ import annotations

import os
import time

import tgcrypto


def aes_ige_mb_s(seconds: float = 0.5, block: int = 1 << 20) -> float:
    key, iv, data = os.urandom(32), os.urandom(32), os.urandom(block)
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        tgcrypto.ige256_decrypt(data, key, iv)
        done += block
    return done / elapsed / 1e6
