"""Several replicas behind HAProxy: the shipped deploy/haproxy/haproxy.cfg, run by Debian's
haproxy with loopback backends, in front of three `tgstream serve` against the emulator.

Every replica serves one link alike; every request for one file meets one replica while
files spread over all; a replica killed mid-download is resumed through HAProxy from another
one, byte-exact, by httpx and by `curl -C -`; a dead replica is checked out, and requests keep
succeeding meanwhile.  Which replica answered is read from HAProxy's own per-server counters.

Until the shared state lands, each replica signs in on its own (its own SESSION_DIR, the same
SECRET and PUBLIC_URL): what is tested here is the balancer.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import SECRET, EmulatorProcess, ServerProcess, free_port
from tgemu.launch import HaproxyProcess
from tgstream import links

MiB = 1 << 20
REPLICAS = 3
FILE_DC = 4  # not the bots' home DC: each replica imports an authorization there
# Per emulator connection while a download is to be cut: a few seconds for the file below.
SLOW_BPS = 250_000
# Headers that must not depend on which replica answers.
SAME_HEADERS = (
    "etag",
    "last-modified",
    "content-length",
    "content-type",
    "content-disposition",
    "accept-ranges",
    "cache-control",
)
# Response counters of HAProxy's stats CSV: a replica that answered nothing (dead, refusing)
# never moves them, unlike its session count.
RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
# What HAProxy itself answers when no replica is ready (deploy/haproxy/haproxy.cfg).
NONE_READY = "no replica is ready, retry later"
# A sign-in told to wait this long: the window in which a replica listens but is not ready.
SIGN_IN_FLOOD_S = 12


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class File:
    data: bytes
    message_id: int
    name: str


@dataclass
class Cluster:
    replicas: dict[str, ServerProcess]  # by HAProxy's name for it
    lb: HaproxyProcess

    def path(self, message_id: int, name: str) -> str:
        return links.download_path(message_id, name, SECRET)

    def link(self, file: File) -> str:
        return self.lb.url + self.path(file.message_id, file.name)

    def responses(self) -> dict[str, int]:
        return {
            name: sum(int(row[column] or 0) for column in RESPONSES)
            for name, row in self.lb.servers().items()
        }

    def served_by(self, send: Callable[[], httpx.Response]) -> tuple[str, httpx.Response]:
        """Which replica answered `send()`, told by HAProxy's counters (requests one at a
        time: health checks are not counted there)."""
        before = self.responses()
        response = send()
        after = self.responses()
        moved = [name for name in after if after[name] != before.get(name, 0)]
        assert len(moved) == 1, (before, after)
        return moved[0], response

    def owner(self, path: str) -> str:
        """The replica HAProxy sends `path` to (a HEAD: no body, no Telegram call)."""
        name, response = self.served_by(lambda: httpx.head(self.lb.url + path, timeout=60))
        assert response.status_code in (200, 403), response
        return name

    def revive(self, name: str) -> None:
        """Start a stopped replica again on its port and directory; until HAProxy sees it."""
        self.replicas[name].start()
        self.lb.wait_status({name: "UP"})


@pytest.fixture(scope="module")
def cluster(
    emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("balancer")
    lb_port = free_port()
    replicas: dict[str, ServerProcess] = {}
    lb: HaproxyProcess | None = None
    try:
        for n in range(1, REPLICAS + 1):
            session_dir = base / f"replica{n}-sessions"
            session_dir.mkdir()
            # Links are HAProxy's: every replica writes the same ones.
            env = {"PUBLIC_URL": f"http://127.0.0.1:{lb_port}"}
            replica = ServerProcess(emulator, session_dir, base / f"replica{n}.log", env)
            replicas[f"tgstream{n}"] = replica  # as haproxy_config names the n-th backend
            replica.start()
        ports = [replica.port for replica in replicas.values()]
        lb = HaproxyProcess(ports, base / "haproxy.cfg", base / "haproxy.log", port=lb_port)
        lb.start()
        assert sorted(lb.servers()) == sorted(replicas)
        yield Cluster(replicas, lb)
    finally:
        if lb is not None:
            lb.stop()
        for replica in replicas.values():
            replica.stop()


def post(emulator: EmulatorProcess, size: int, name: str) -> File:
    data = os.urandom(size)
    posted = emulator.post_to_channel(data, dc=FILE_DC, name=name, mime_type="video/mp4")
    return File(data, posted["message_id"], name)


def test_every_replica_serves_one_link_alike(emu: EmulatorProcess, cluster: Cluster) -> None:
    file = post(emu, 3 * MiB + 777, "same.mp4")
    through = httpx.get(cluster.link(file), timeout=60)
    assert through.status_code == 200 and sha(through.content) == sha(file.data)
    watch = links.watch_path(file.message_id, file.name, SECRET)
    pages = set()
    for name, replica in cluster.replicas.items():
        direct = httpx.get(replica.url + cluster.path(file.message_id, file.name), timeout=60)
        assert direct.status_code == 200, name
        assert sha(direct.content) == sha(file.data), name
        for header in SAME_HEADERS:
            assert direct.headers.get(header) == through.headers.get(header), (name, header)
        page = httpx.get(replica.url + watch, timeout=60)
        assert page.status_code == 200, name
        pages.add(page.text)
    # The watch page names HAProxy's address, whichever replica renders it.
    assert len(pages) == 1 and cluster.lb.url in pages.pop()


def test_one_file_meets_one_replica_and_files_spread(
    emu: EmulatorProcess, cluster: Cluster
) -> None:
    file = post(emu, 2 * MiB + 5, "warm.mp4")
    link = cluster.link(file)
    watch = cluster.lb.url + links.watch_path(file.message_id, file.name, SECRET)
    seen: set[str] = set()
    for start in range(0, len(file.data), 256 * 1024):  # a viewer seeking through the file
        name, response = cluster.served_by(
            lambda start=start: httpx.get(link, headers={"Range": f"bytes={start}-"}, timeout=60)
        )
        assert response.status_code == 206 and response.content == file.data[start:]
        seen.add(name)
    name, page = cluster.served_by(lambda: httpx.get(watch, timeout=60))
    assert page.status_code == 200
    seen.add(name)
    assert len(seen) == 1, seen

    # Other ids go elsewhere: the routing looks at the id alone (a wrong signature is
    # refused by the replica it reaches, without a Telegram call).
    owners = {cluster.owner(f"/dl/{message_id}/x.bin?sig=0") for message_id in range(1000, 1030)}
    assert owners == set(cluster.replicas), owners


def test_a_replica_killed_mid_download_is_resumed_elsewhere(
    emu: EmulatorProcess, cluster: Cluster, tmp_path: Path
) -> None:
    file = post(emu, 8 * MiB + 333, "cut.mp4")
    link = cluster.link(file)
    victim = cluster.owner(cluster.path(file.message_id, file.name))
    replica = cluster.replicas[victim]
    emu.control.shape_dc(FILE_DC, bandwidth_bps=SLOW_BPS)
    received = bytearray()
    try:
        with httpx.stream("GET", link, timeout=60) as response:
            assert response.status_code == 200
            etag = response.headers["etag"]
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                for chunk in response.iter_raw():
                    received += chunk
                    if len(received) >= MiB and replica.running():
                        replica.send(signal.SIGKILL)
        assert replica.stop() == -signal.SIGKILL
        assert MiB <= len(received) < len(file.data)
        emu.control.clear_faults()

        # httpx: the rest, on condition that it is the same file.  HAProxy still hashes the
        # id to the dead replica until its checks fail; the refused connection is sent to
        # another one.
        rest = {"Range": f"bytes={len(received)}-", "If-Range": etag}
        name, resumed = cluster.served_by(lambda: httpx.get(link, headers=rest, timeout=60))
        assert name != victim
        assert resumed.status_code == 206
        assert resumed.headers["content-range"] == (
            f"bytes {len(received)}-{len(file.data) - 1}/{len(file.data)}"
        )
        assert sha(bytes(received) + resumed.content) == sha(file.data)

        # curl: `-C -` resumes from what the file holds.
        partial = tmp_path / "cut.mp4"
        partial.write_bytes(received)
        curl = ["curl", "--silent", "--show-error", "--fail", "--continue-at", "-"]
        curl += ["--header", f"If-Range: {etag}", "--output", str(partial), link]
        subprocess.run(curl, check=True, timeout=120)
        assert sha(partial.read_bytes()) == sha(file.data)
    finally:
        emu.control.clear_faults()
        if not replica.running():
            cluster.revive(victim)


def test_a_dead_replica_is_checked_out_and_requests_keep_succeeding(
    emu: EmulatorProcess, cluster: Cluster
) -> None:
    file = post(emu, MiB + 1, "steady.mp4")
    link = cluster.link(file)
    ids = range(2000, 2030)
    owners = {i: cluster.owner(f"/dl/{i}/x.bin?sig=0") for i in ids}
    victim = cluster.owner(cluster.path(file.message_id, file.name))
    replica = cluster.replicas[victim]
    replica.send(signal.SIGKILL)
    try:
        assert replica.stop() == -signal.SIGKILL
        # Until the health check takes it out, and after: every request is answered in full.
        deadline = time.monotonic() + 30
        while cluster.lb.servers()[victim]["status"] != "DOWN":
            assert time.monotonic() < deadline, "the dead replica was never checked out"
            response = httpx.get(link, timeout=60)
            assert response.status_code == 200 and sha(response.content) == sha(file.data)
        name, response = cluster.served_by(lambda: httpx.get(link, timeout=60))
        assert name != victim and sha(response.content) == sha(file.data)
        # Consistent hashing: only the dead replica's ids moved.
        for i in ids:
            now = cluster.owner(f"/dl/{i}/x.bin?sig=0")
            assert now != victim
            if owners[i] != victim:
                assert now == owners[i], i
    finally:
        cluster.revive(victim)
    # Back up, it gets its own ids again.
    assert {i: cluster.owner(f"/dl/{i}/x.bin?sig=0") for i in ids} == owners


def test_with_no_replica_ready_haproxy_answers_as_a_replica_would(tmp_path: Path) -> None:
    """Nothing listens on the backend's port: checked out, and a request gets the 503 with
    Retry-After that a replica gives while it cannot serve, not HAProxy's bare one."""
    lb = HaproxyProcess([free_port()], tmp_path / "haproxy.cfg", tmp_path / "haproxy.log")
    try:
        lb.start(wait_up=False)
        lb.wait_status({"tgstream1": "DOWN"})
        response = httpx.get(lb.url + links.download_path(1, "x.bin", SECRET), timeout=30)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert response.json() == {"error": NONE_READY}
    finally:
        lb.stop()


def test_a_replica_not_signed_in_gets_no_traffic_until_it_is(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    """Checked on /readyz: while its bot waits out a FLOOD_WAIT on sign-in, the replica
    listens (and would answer 503) but HAProxy sends it nothing; once signed in, it serves."""
    file = post(emu, 300_000, "late.mp4")
    emu.faults(flood_waits=[{"method": "auth.importBotAuthorization", "seconds": SIGN_IN_FLOOD_S}])
    lb_port = free_port()
    session_dir = tmp_path / "late-sessions"
    session_dir.mkdir()
    env = {"PUBLIC_URL": f"http://127.0.0.1:{lb_port}"}
    replica = ServerProcess(emu, session_dir, tmp_path / "late.log", env)
    config, log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
    lb = HaproxyProcess([replica.port], config, log, port=lb_port)
    try:
        replica.start(wait_ready=False)
        lb.start(wait_up=False)
        lb.wait_status({"tgstream1": "DOWN"})
        link = lb.url + links.download_path(file.message_id, file.name, SECRET)
        refused = 0
        deadline = time.monotonic() + SIGN_IN_FLOOD_S + 60
        while True:
            # Only two answers: HAProxy's own while the replica is out, or the file.  The
            # replica's not-ready 503 never reaches a client.
            response = httpx.get(link, timeout=60)
            if response.status_code == 200:
                assert sha(response.content) == sha(file.data)
                break
            assert response.status_code == 503 and response.json() == {"error": NONE_READY}
            refused += 1
            assert time.monotonic() < deadline, "the replica was never let in"
            time.sleep(0.2)  # a pace for the loop; the bound is the deadline above
        assert refused > 0
        assert httpx.get(f"{replica.url}/readyz").status_code == 200
    finally:
        lb.stop()
        replica.stop()
