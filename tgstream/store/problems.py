"""What can be wrong with SESSION_DIR, said in one line."""

from __future__ import annotations

from pathlib import Path


class StoreUnavailable(Exception):
    """SESSION_DIR (or a file in it) cannot be used: read-only, corrupt, locked."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause
