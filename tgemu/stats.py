"""Counters of what the emulator saw, per DC and per method: what tests assert on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DC_COUNTERS = (
    "auth_keys_created",
    "bot_signins",
    "auth_imports",
    "getfile_requests",
    "getfile_bytes",
    # getFile answers the corrupt_getfile fault damaged.
    "getfile_corrupted",
    "getfile_hashes_requests",
    # getFile calls that named a document's thumbnail (thumb_size), not the document.
    "getfile_thumb_requests",
    "file_migrate_errors",
    "flood_waits",
    "file_reference_expired",
    "connections",
    # Calls answered 406 AUTH_KEY_DUPLICATED: a session used from two connections at once.
    "auth_key_duplicated",
)


@dataclass
class Stats:
    dc_ids: list[int]
    dcs: dict[int, Counter[str]] = field(init=False)
    methods: Counter[str] = field(default_factory=Counter)
    unimplemented: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    # Gauges are not reset: they describe the present, not what happened since a reset.
    open_connections: Counter[int] = field(default_factory=Counter)
    inflight_getfile: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.dcs = {dc: Counter({name: 0 for name in DC_COUNTERS}) for dc in self.dc_ids}
        self.methods.clear()
        self.unimplemented.clear()
        self.errors.clear()

    def bump(self, dc: int, name: str, amount: int = 1) -> None:
        self.dcs[dc][name] += amount

    def snapshot(self) -> dict[str, Any]:
        return {
            "dcs": {
                str(dc): {
                    **{name: counters[name] for name in DC_COUNTERS},
                    "open_connections": self.open_connections[dc],
                    "inflight_getfile": self.inflight_getfile[dc],
                }
                for dc, counters in self.dcs.items()
            },
            "methods": dict(self.methods),
            "unimplemented": dict(self.unimplemented),
            "errors": dict(self.errors),
        }
