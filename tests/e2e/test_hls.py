"""HLS end to end: the emulator holds the files, `tgstream serve` makes the HLS, and what a
player sees is checked with Debian's ffprobe and the emulator's getFile counters.

- ffprobe on the signed master URL finds AAC stereo audio and the file's duration;
- a probe of a 200 MiB MKV costs a few parts, and a seek to its middle fetches at most a few
  parts beyond that segment's byte range;
- ten viewers at once never get more jobs than TRANSCODE_SLOTS: the rest get 503 with
  Retry-After, and each gets its segment once it retries.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.support import media_files
from tests.support.processes import SECRET, EmulatorProcess, ServerProcess
from tgstream import links
from tgstream.media.inspect import inspect
from tgstream.media.segments import plan_segments
from tgstream.streaming.plan import PART_SIZE

FILE_DC = 4
TIMEOUT = 120.0


@dataclass
class Posted:
    media: media_files.MediaFile
    message_id: int


def post(emu: EmulatorProcess, media: media_files.MediaFile) -> Posted:
    answer = emu.post_to_channel(
        media.path, dc=FILE_DC, name=media.path.name, mime_type="video/x-matroska"
    )
    return Posted(media, answer["message_id"])


@pytest.fixture(scope="module")
def film(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Posted:
    base = tmp_path_factory.mktemp("hls-film")
    return post(emulator, media_files.mkv_h264_ac3(base / "film.mkv", seconds=30))


@pytest.fixture(scope="module")
def big(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Posted:
    base = tmp_path_factory.mktemp("hls-big")
    return post(emulator, media_files.big_mkv(base / "big.mkv", 200 << 20))


def hls_url(server: ServerProcess, message_id: int, rest: str = "index.m3u8") -> str:
    return f"{server.url}/hls/{message_id}/{rest}?sig={links.sign(message_id, SECRET)}"


def getfile_bytes(emu: EmulatorProcess) -> int:
    return sum(int(dc["getfile_bytes"]) for dc in emu.stats()["dcs"].values())


def ffprobe(target: str) -> dict[str, object]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", target],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_ffprobe_on_the_hls_url_finds_aac_and_the_duration(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, film: Posted
) -> None:
    server = new_server(server_factory, emu, tmp_path, TRANSCODE_SLOTS="2")
    found = ffprobe(hls_url(server, film.message_id))
    streams = found["streams"]
    assert isinstance(streams, list)
    audio = [s for s in streams if s["codec_type"] == "audio"]
    video = [s for s in streams if s["codec_type"] == "video"]
    assert audio and all(s["codec_name"] == "aac" and s["channels"] == 2 for s in audio)
    assert [s["codec_name"] for s in video] == ["h264"]
    form = found["format"]
    assert isinstance(form, dict)
    assert float(form["duration"]) == pytest.approx(film.media.duration, abs=0.1)

    # Segments of the two renditions start together, on the file's clock (+10 s).
    for rest in ("v/2.ts", "a1/2.ts"):
        answer = httpx.get(hls_url(server, film.message_id, rest), timeout=TIMEOUT)
        assert answer.status_code == 200 and answer.headers["content-type"] == "video/mp2t"
        path = tmp_path / rest.replace("/", "-")
        path.write_bytes(answer.content)
        first = float(_first_pts(path))
        assert first == pytest.approx(10.0 + 12.0, abs=0.03), rest


def _first_pts(path: Path) -> str:
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            "-read_intervals",
            "%+#5",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    # One line a packet: "22.000000," (the comma ends the packet's fields).
    return min((line.strip(",") for line in proc.stdout.split()), key=float)


def test_a_seek_into_a_big_mkv_reads_around_its_segment(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, big: Posted
) -> None:
    server = new_server(server_factory, emu, tmp_path, TRANSCODE_SLOTS="2")
    size = big.media.size
    assert 180 << 20 < size < 230 << 20, size
    emu.control.reset_stats()
    master = httpx.get(hls_url(server, big.message_id), timeout=TIMEOUT)
    assert master.status_code == 200
    probe_bytes = getfile_bytes(emu)
    # The header, the first packets and the Cues at the end: a few parts of 200.
    assert 0 < probe_bytes <= 6 * PART_SIZE, probe_bytes

    with big.media.path.open("rb") as handle:
        segments = plan_segments(inspect(handle), size)
    middle = segments[len(segments) // 2]
    assert middle.stop_byte is not None
    emu.control.reset_stats()
    for rest in (f"v/{middle.index}.ts", f"a1/{middle.index}.ts"):
        answer = httpx.get(hls_url(server, big.message_id, rest), timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        assert len(answer.content) > 0 and len(answer.content) % 188 == 0
    fetched = getfile_bytes(emu)
    span = middle.stop_byte - middle.first_byte
    assert span < size // 5, "the segment is a small part of the file"
    # Its range (which already reaches 1 MiB past its end) and at most 3 parts more: the
    # alignment of the first and last parts, and the header if it left the RAM cache.
    assert span // 2 < fetched <= span + 3 * PART_SIZE, (fetched, span)


def test_transcode_slots_hold_under_ten_viewers(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, film: Posted
) -> None:
    # No part cache and 200 ms to Telegram: each job waits on its reads, so ten at once
    # really overlap however fast the CPU is.
    server = new_server(server_factory, emu, tmp_path, TRANSCODE_SLOTS="2", CACHE_SIZE_MB="0")
    assert httpx.get(hls_url(server, film.message_id), timeout=TIMEOUT).status_code == 200
    emu.faults(dcs={str(FILE_DC): {"latency_ms": 200}})
    segments = 5  # 30 s in 6 s segments
    gate = threading.Barrier(10)
    outcomes: list[tuple[int, list[int]]] = []

    def viewer(number: int) -> None:
        # Each viewer wants its own segment: no two share a job.
        rest = f"{'v' if number % 2 else 'a1'}/{number % segments}.ts"
        seen: list[int] = []
        gate.wait()
        deadline = time.monotonic() + TIMEOUT
        with httpx.Client(timeout=TIMEOUT) as client:
            while time.monotonic() < deadline:
                answer = client.get(hls_url(server, film.message_id, rest))
                seen.append(answer.status_code)
                if answer.status_code != 503:
                    break
                retry = int(answer.headers["retry-after"])
                assert 1 <= retry <= 30
                time.sleep(retry)
        outcomes.append((number, seen))

    threads = [threading.Thread(target=viewer, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert len(outcomes) == 10
    assert all(seen[-1] == 200 for _, seen in outcomes), outcomes
    assert all(set(seen) <= {200, 503} for _, seen in outcomes), outcomes
    busy = sum(seen.count(503) for _, seen in outcomes)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert _sample(metrics, "tgstream_transcode_running_peak") <= 2
    assert _sample(metrics, 'tgstream_transcode_jobs_total{outcome="busy"}') == busy
    assert _sample(metrics, 'tgstream_transcode_jobs_total{outcome="made"}') == 10
    assert busy >= 1, "ten jobs at once on two slots: some waited"


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
