"""One download read raw while something happens to the server or the network mid-body, and
the only two endings a viewer may see: the whole body, byte-exact, or a visibly cut one."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Transfer:
    status: int
    expected_length: int
    received: int
    digest: str
    aborted_with: Exception | None
    received_when_acted: int  # -1: the body ended before `at_bytes`, the action never ran


def read_while(
    url: str,
    at_bytes: int,
    action: Callable[[], None],
    range_header: str | None = None,
    timeout: float = 90.0,
) -> Transfer:
    """GET `url`; once `at_bytes` of body arrived, a background thread runs `action` (the
    reader goes on meanwhile: the body keeps coming, or stops, while it runs).

    The body is hashed as it comes.  An incomplete transfer is recognised only from the HTTP
    client's own protocol/read errors, which is what a viewer would see.  An exception in
    `action` is raised here.
    """
    received = 0
    reached = threading.Event()
    finished = threading.Event()
    acted_at: list[int] = []
    failures: list[BaseException] = []

    def actor() -> None:
        try:
            if reached.wait(120) and not finished.is_set():
                acted_at.append(received)
                action()
        except BaseException as exc:  # reported by the reading thread
            failures.append(exc)

    thread = threading.Thread(target=actor, name="mid-body-action", daemon=True)
    thread.start()
    hasher = hashlib.sha256()
    status, expected_length = 0, -1
    aborted: Exception | None = None
    headers = {"Range": range_header} if range_header else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
            status = response.status_code
            expected_length = int(response.headers["content-length"])
            for chunk in response.iter_raw():
                hasher.update(chunk)
                received += len(chunk)
                if received >= at_bytes:
                    reached.set()
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        aborted = exc
    finally:
        finished.set()
        reached.set()
        thread.join(60)
    assert not thread.is_alive(), "the mid-body action hung"
    if failures:
        raise failures[0]
    acted = acted_at[0] if acted_at else -1
    return Transfer(status, expected_length, received, hasher.hexdigest(), aborted, acted)


def assert_exact_or_aborted(transfer: Transfer, expected: bytes, status: int = 200) -> None:
    """Byte-exact and complete, or cut short with a transport error: nothing else."""
    assert transfer.status == status
    assert transfer.expected_length == len(expected)
    if transfer.aborted_with is None:
        assert transfer.received == len(expected), "a clean end with a short body"
        assert transfer.digest == sha(expected)
    else:
        assert transfer.received < len(expected), transfer.aborted_with
