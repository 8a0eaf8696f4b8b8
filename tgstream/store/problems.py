"""What can be wrong with the state: SESSION_DIR said in one line at start, or a shared
backend that does not answer now."""

from __future__ import annotations

from pathlib import Path


class StoreUnavailable(Exception):
    """SESSION_DIR (or a file in it) cannot be used: read-only, corrupt, locked."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


class SharedStateDown(Exception):
    """The shared state (Redis) cannot answer now: what needs it is refused with a
    Retry-After, what memory already holds goes on."""

    def __init__(self, where: str, cause: str, retry_after: float = 5.0) -> None:
        super().__init__(f"shared state at {where} unavailable ({cause})")
        self.where = where
        self.cause = cause
        self.retry_after = retry_after
