"""Server salts (core.telegram.org/mtproto/description#server-salt), derived, never stored.

Each auth key has one salt per 30-minute window, an HMAC of the window under a per-state-dir
secret, so salts survive restarts and need no table.  A salt is accepted during its own
window and the next one, as future_salts promise; a new key's first salt (from the key
exchange) is accepted for one period.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

SALT_PERIOD = 1800
MAX_FUTURE_SALTS = 64


def salt_for(secret: bytes, key_id: int, window: int) -> int:
    digest = hmac.new(secret, struct.pack("<Qq", key_id, window), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


@dataclass(frozen=True, slots=True)
class FutureSalt:
    valid_since: int
    valid_until: int
    salt: int


@dataclass(slots=True)
class SaltSchedule:
    secret: bytes
    # key_id -> (salt from the key exchange, accepted until)
    initial: dict[int, tuple[int, float]] = field(default_factory=dict)

    def current(self, key_id: int, now: float) -> int:
        return salt_for(self.secret, key_id, int(now) // SALT_PERIOD)

    def valid(self, key_id: int, salt: int, now: float) -> bool:
        window = int(now) // SALT_PERIOD
        if salt in (salt_for(self.secret, key_id, w) for w in (window, window - 1)):
            return True
        initial = self.initial.get(key_id)
        return initial is not None and initial[0] == salt and initial[1] > now

    def add_initial(self, key_id: int, salt: int, now: float) -> None:
        self.initial[key_id] = (salt, now + SALT_PERIOD)

    def future(self, key_id: int, now: float, num: int) -> list[FutureSalt]:
        """get_future_salts: `num` salts (1..64) from the current window on."""
        window = int(now) // SALT_PERIOD
        salts = []
        for index in range(max(1, min(num, MAX_FUTURE_SALTS))):
            start = (window + index) * SALT_PERIOD
            salt = salt_for(self.secret, key_id, window + index)
            salts.append(FutureSalt(start, start + 2 * SALT_PERIOD, salt))
        return salts
