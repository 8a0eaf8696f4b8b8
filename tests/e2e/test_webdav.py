"""The bin channel as a read-only WebDAV drive, driven by real clients: Debian's rclone
(list, copy byte-exact, ranged reads) and litmus (the protocol suite's read-only tests),
against a real server and the emulator; and `tgstream index --backfill` finding files the
index lost."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import new_server
from tests.support.litmus_shim import LitmusShim
from tests.support.processes import ROOT, EmulatorProcess, ServerProcess

USER, PASSWORD = "alice", "pass:with:colons"
DAV_USERS = f"{USER}:{PASSWORD},bob:other"
AUTH = (USER, PASSWORD)
FILE_DC = 2
MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dav_server(started: list[ServerProcess], emu: EmulatorProcess, base: Path) -> ServerProcess:
    return new_server(started, emu, base, "dav", DAV_USERS=DAV_USERS)


def listing(server: ServerProcess, path: str = "/dav/") -> list[str]:
    """The hrefs a Depth 1 PROPFIND of `path` answers."""
    answer = httpx.request("PROPFIND", server.url + path, auth=AUTH, headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    return re.findall(r"<D:href>([^<]*)</D:href>", answer.text)


def wait_listed(server: ServerProcess, count: int, timeout: float = 60) -> list[str]:
    """Every file href under /dav/ once at least `count` are there."""
    deadline = time.monotonic() + timeout
    files: list[str] = []
    while time.monotonic() < deadline:
        files = [f for m in listing(server)[1:] for f in listing(server, m)[1:]]
        if len(files) >= count:
            return files
        time.sleep(0.2)
    raise AssertionError(f"{len(files)} files listed within {timeout} s, wanted {count}")


def post(emu: EmulatorProcess, data: bytes, name: str) -> int:
    return int(emu.post_to_channel(data, dc=FILE_DC, name=name)["message_id"])


def rclone(server: ServerProcess, config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    obscured = subprocess.run(
        ["rclone", "obscure", PASSWORD], capture_output=True, check=True, text=True
    ).stdout.strip()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(config.parent),
        "RCLONE_CONFIG": str(config),
        "RCLONE_CONFIG_TG_TYPE": "webdav",
        "RCLONE_CONFIG_TG_URL": f"{server.url}/dav/",
        "RCLONE_CONFIG_TG_VENDOR": "other",
        "RCLONE_CONFIG_TG_USER": USER,
        "RCLONE_CONFIG_TG_PASS": obscured,
    }
    return subprocess.run(["rclone", *args], env=env, capture_output=True, timeout=120)


def test_rclone_lists_copies_and_reads_ranges_byte_exact(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = dav_server(server_factory, emulator, tmp_path)
    sent = {
        "alpha.bin": os.urandom(3 * MiB + 12345),  # several parts: ranges cross them
        "same.bin": os.urandom(200_001),
    }
    first = post(emulator, sent["alpha.bin"], "alpha.bin")
    second = post(emulator, sent["same.bin"], "same.bin")
    namesake = os.urandom(77_777)
    third = post(emulator, namesake, "same.bin")
    assert first < second < third
    # The namesake posted later carries its message id; the first keeps the plain name.
    sent[f"same ({third}).bin"] = namesake
    # A file sent to the bot privately: its bin-channel copy is indexed too.
    private = os.urandom(150_000)
    emulator.post_file("/users/7301/documents", private, FILE_DC, "note.pdf")
    sent["note.pdf"] = private
    wait_listed(server, 4)

    config = tmp_path / "rclone.conf"
    config.write_text("")
    listed = rclone(server, config, "lsjson", "-R", "tg:")
    assert listed.returncode == 0, listed.stderr.decode()
    entries: list[dict[str, Any]] = json.loads(listed.stdout)
    months = [e for e in entries if e["IsDir"]]
    assert len(months) >= 1 and all(re.fullmatch(r"\d{4}-\d{2}", e["Name"]) for e in months)
    files = {e["Name"]: e for e in entries if not e["IsDir"]}
    assert set(files) == set(sent)
    for name, data in sent.items():
        assert files[name]["Size"] == len(data)

    # Three files copied byte-exact (the fourth left out by a filter).
    target = tmp_path / "copy"
    month = files["alpha.bin"]["Path"].split("/")[0]
    copied = rclone(server, config, "copy", f"tg:{month}", str(target), "--exclude", "note.pdf")
    assert copied.returncode == 0, copied.stderr.decode()
    assert sorted(p.name for p in target.iterdir()) == sorted(set(sent) - {"note.pdf"})
    for name in ("alpha.bin", "same.bin", f"same ({third}).bin"):
        assert sha((target / name).read_bytes()) == sha(sent[name]), name

    # Ranged reads, exact: inside the first part, across a part boundary, the tail.
    data = sent["alpha.bin"]
    for offset, count in ((0, 1), (1000, 5000), (MiB - 100, 300), (len(data) - 7, 7)):
        cat = rclone(
            server, config, "cat", "--offset", str(offset), "--count", str(count),
            f"tg:{month}/alpha.bin",
        )  # fmt: skip
        assert cat.returncode == 0, cat.stderr.decode()
        assert cat.stdout == data[offset : offset + count], (offset, count)

    # The ETag and Last-Modified a PROPFIND gives are those /dl gives.
    propfind = httpx.request(
        "PROPFIND", f"{server.url}/dav/{month}/alpha.bin", auth=AUTH, headers={"Depth": "0"}
    )
    dl = httpx.head(server.link(first, "alpha.bin"))
    assert propfind.status_code == 207 and dl.status_code == 200
    assert f"<D:getetag>{dl.headers['etag']}</D:getetag>" in propfind.text.replace("&quot;", '"')
    assert f"<D:getlastmodified>{dl.headers['last-modified']}<" in propfind.text

    # A wrong password, or none: 401 with a challenge.  Writes: 405 with Allow.
    for auth in ((USER, "wrong"), ("mallory", PASSWORD), None):
        refused = httpx.request("PROPFIND", f"{server.url}/dav/", auth=auth, headers={"Depth": "0"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
    for method in ("PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK"):
        answer = httpx.request(method, f"{server.url}/dav/{month}/alpha.bin", auth=AUTH)
        assert answer.status_code == 405, method
        assert answer.headers["allow"] == "OPTIONS, PROPFIND, GET, HEAD"
    uploaded = rclone(server, config, "copyto", str(target / "alpha.bin"), f"tg:{month}/x.bin")
    assert uploaded.returncode != 0
    assert PASSWORD not in server.logs()


# litmus's tests that a read-only server can pass: OPTIONS, PROPFIND at Depth 0 and the
# refusal of malformed PROPFIND bodies, a non-Class-2 server's lock tests skipped, and a
# request with Expect: 100-continue answered.  The rest create files (PUT, MKCOL, COPY,
# MOVE, PROPPATCH) and fail by design.
READ_ONLY_TESTS = {
    "basic": ["options"],
    "props": ["propfind_invalid", "propfind_invalid2", "propfind_d0"],
    "locks": ["options"],
    "http": ["expect100"],
}


def test_litmus_read_only_tests_pass(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = dav_server(server_factory, emulator, tmp_path)
    post(emulator, os.urandom(10_000), "litmus-target.bin")
    (href,) = wait_listed(server, 1)
    month_folder = href.rsplit("/", 1)[0] + "/"
    with LitmusShim(server.url, month_folder) as shim:
        run = subprocess.run(
            ["litmus", "-k", shim.url, USER, PASSWORD],
            env={**os.environ, "TESTS": " ".join(READ_ONLY_TESTS)},
            capture_output=True,
            cwd=tmp_path,
            timeout=240,
        )
    output = run.stdout.decode(errors="replace")
    print("\n".join(line for line in output.splitlines() if "summary" in line))
    suites = re.split(r"-> running `(\w+)':", output)[1:]
    results: dict[str, str] = {}
    for suite, text in zip(suites[::2], suites[1::2], strict=True):
        for test in READ_ONLY_TESTS[suite]:
            # "3. name.... pass", or a warning line, then "...... pass (with 1 warning)".
            found = re.search(
                rf"\d+\. {test}\.+ (?:WARNING[^\n]*\n\s*\.+ )?(pass|FAIL|SKIPPED)", text
            )
            results[f"{suite}/{test}"] = found[1] if found else "absent"
    assert results == {f"{s}/{t}": "pass" for s, ts in READ_ONLY_TESTS.items() for t in ts}, output


def test_backfill_finds_files_the_index_lost(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = dav_server(server_factory, emulator, tmp_path)
    ids = [post(emulator, os.urandom(5_000 + i), f"old-{i}.bin") for i in range(3)]
    wait_listed(server, 3)
    # The index as it was before the bot kept one: empty (the server keeps running).
    db = sqlite3.connect(server.session_dir / "tgstream.sqlite3")
    try:
        db.execute("DELETE FROM file_index")
        db.commit()
    finally:
        db.close()
    assert listing(server) == ["/dav/"]

    command = [str(ROOT / ".venv" / "bin" / "tgstream"), "index", "--backfill"]
    env = {**os.environ, **server.env()}
    first = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    counted = re.search(r"(\d+) files added", first.stdout)
    assert counted is not None, first.stdout
    added = int(counted[1])
    # The shared emulator's channel holds other tests' files too: at least ours came back.
    assert added >= 3, first.stdout
    names = {href.rsplit("/", 1)[1] for href in wait_listed(server, added)}
    assert {f"old-{i}.bin" for i in range(3)} <= names
    newest = re.search(r"newest message (\d+)", first.stdout)
    assert newest is not None and int(newest[1]) >= max(ids)

    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0 and "0 files added, 0 removed" in again.stdout, again.stdout

    wrong = subprocess.run(
        command, env={**env, "SECRET": "not-the-servers-secret"}, capture_output=True, text=True
    )
    assert wrong.returncode == 1 and "refused" in wrong.stderr
