"""The /hls routes in-process over in-memory files (fixture media made with PyAV): the signed
link, the playlists and segments with their types, every refusal with its status, the probe
stored once, the slots."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest

from tests.support import media_files
from tests.support.memory_files import MemoryFiles, file_info
from tests.support.web_app import app_over, client_of, settings_for
from tgstream import links
from tgstream.media import Media
from tgstream.media.probe import MediaProbe
from tgstream.service import Services

FILM, SRT_FILM, NOT_MEDIA, BROKEN = 1, 2, 3, 4


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, media_files.MediaFile]:
    base = tmp_path_factory.mktemp("media")
    return {
        "film": media_files.mkv_h264_ac3(base / "film.mkv", seconds=14, keyframe_interval=2),
        "subs": media_files.mkv_two_audio_srt(base / "subs.mkv", seconds=12),
    }


class App:
    def __init__(
        self, services: Services, files: MemoryFiles, media: Media, client: httpx.AsyncClient
    ) -> None:
        self.services = services
        self.files = files
        self.media = media
        self.client = client

    def url(self, message_id: int, rest: str = "index.m3u8", sig: str | None = None) -> str:
        sig = links.sign(message_id, self.services.secret) if sig is None else sig
        return f"/hls/{message_id}/{rest}?sig={sig}"

    def metric(self, name: str, **labels: str) -> float:
        value = self.services.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
async def app(tmp_path: Path, fixtures: dict[str, media_files.MediaFile]) -> AsyncIterator[App]:
    services = Services.build(settings_for(tmp_path, transcode_slots=2))
    files = MemoryFiles()
    for message_id, key in ((FILM, "film"), (SRT_FILM, "subs")):
        data = fixtures[key].path.read_bytes()
        info = file_info(message_id, len(data), "video/x-matroska", f"{key}.mkv")
        files.add(info, data)
    files.add(file_info(NOT_MEDIA, 5000, "application/pdf", "paper.pdf"), b"%PDF" * 1250)
    files.add(file_info(BROKEN, 5000, "video/mp4", "broken.mp4"), bytes(5000))
    web = app_over(services, files)
    try:
        async with client_of(web) as client:
            yield App(services, files, web.state.media, client)
    finally:
        web.state.media.close()
        services.media.close()
        await services.store.close()


async def test_master_and_media_playlists(app: App) -> None:
    answer = await app.client.get(app.url(FILM))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.apple.mpegurl"
    sig = links.sign(FILM, app.services.secret)
    assert f'URI="a1/index.m3u8?sig={sig}"' in answer.text
    assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', answer.text)
    assert answer.text.splitlines()[-1] == f"v/index.m3u8?sig={sig}"

    media = await app.client.get(app.url(FILM, "v/index.m3u8"))
    assert media.status_code == 200 and "#EXT-X-ENDLIST" in media.text
    extinf = [float(x[8:-1]) for x in media.text.splitlines() if x.startswith("#EXTINF:")]
    assert sum(extinf) == pytest.approx(14.0, abs=0.05) and len(extinf) == 3


async def test_segments_are_mpeg_ts_with_the_files_timestamps(app: App, tmp_path: Path) -> None:
    video = await app.client.get(app.url(FILM, "v/1.ts"))
    audio = await app.client.get(app.url(FILM, "a1/1.ts"))
    assert video.status_code == audio.status_code == 200
    assert video.headers["content-type"] == audio.headers["content-type"] == "video/mp2t"
    (tmp_path / "v.ts").write_bytes(video.content)
    (tmp_path / "a.ts").write_bytes(audio.content)
    with av.open(str(tmp_path / "v.ts")) as container:
        packets = [p for p in container.demux(video=0) if p.pts is not None]
        assert packets[0].is_keyframe
        first = min(float(p.pts * p.time_base) for p in packets)
        assert first == pytest.approx(10.0 + 6.0, abs=0.01)
        assert len(packets) == 6 * 25  # seconds 6..12 at 25 fps
    with av.open(str(tmp_path / "a.ts")) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.codec_context.channels == 2
        assert stream.codec_context.sample_rate == 48_000
        frames = list(container.decode(audio=0))
        samples = sum(f.samples for f in frames)
        start = float(frames[0].pts * frames[0].time_base)
    # Exactly 6 s of sound from 16 s on (the encoder's priming frame aside).
    assert start == pytest.approx(16.0, abs=0.025)
    assert abs(samples - 6 * 48_000) <= 2048
    assert app.metric("tgstream_transcode_jobs_total", outcome="made") == 2
    assert app.metric("tgstream_transcoded_audio_seconds_total") == pytest.approx(6.0, abs=0.05)


async def test_subtitles_become_webvtt_on_the_segments_clock(app: App) -> None:
    master = await app.client.get(app.url(SRT_FILM))
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="eng"' in master.text
    assert master.text.count("TYPE=AUDIO") == 2
    first = await app.client.get(app.url(SRT_FILM, "s3/0.vtt"))
    second = await app.client.get(app.url(SRT_FILM, "s3/1.vtt"))
    assert first.headers["content-type"] == "text/vtt; charset=utf-8"
    assert first.text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n")
    assert "00:00:01.000 --> 00:00:03.000\nHello, world\n" in first.text
    assert "00:00:05.500 --> 00:00:08.000\nSecond line\nin two rows\n" in first.text
    assert "-->" not in second.text


async def test_aac_stereo_is_copied_not_transcoded(app: App, tmp_path: Path) -> None:
    await app.client.get(app.url(SRT_FILM))
    for number in (0, 1):
        french = await app.client.get(app.url(SRT_FILM, f"a2/{number}.ts"))
        assert french.status_code == 200 and len(french.content) % 188 == 0
        (tmp_path / f"{number}.ts").write_bytes(french.content)
    assert app.metric("tgstream_transcode_jobs_total", outcome="made") == 2
    assert app.metric("tgstream_transcoded_audio_seconds_total") == 0
    # The two segments hold the track's packets from 0 and 6 s on, without overlap.
    ends = []
    for number in (0, 1):
        with av.open(str(tmp_path / f"{number}.ts")) as container:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == "aac" and stream.codec_context.channels == 2
            times = [
                float(p.pts * p.time_base) - 10.0
                for p in container.demux(stream)
                if p.pts is not None
            ]
        ends.append((min(times), max(times)))
    assert ends[0][0] == pytest.approx(0.0, abs=0.03) and ends[1][0] == pytest.approx(6.0, abs=0.03)
    assert ends[0][1] < ends[1][0]


async def test_refusals(app: App) -> None:
    forged = await app.client.get(app.url(FILM, sig="0" * 43))
    assert forged.status_code == 403
    assert (await app.client.get(app.url(FILM, "v/0.ts", sig="x"))).status_code == 403
    gone = await app.client.get(f"/hls/{FILM}/index.m3u8?sig={links.sign(FILM, 'other')}")
    assert gone.status_code == 403
    not_media = await app.client.get(app.url(NOT_MEDIA))
    assert (
        not_media.status_code == 404 and "not an audio or video file" in not_media.json()["error"]
    )
    broken = await app.client.get(app.url(BROKEN))
    assert broken.status_code == 422 and "PyAV" in broken.json()["error"]
    for rest in ("x1/index.m3u8", "a9/index.m3u8", "s1/0.vtt", "v/99.ts", "v/0.vtt", "v/abc"):
        answer = await app.client.get(app.url(FILM, rest))
        assert answer.status_code == 404, rest
        assert answer.json()["error"]


async def test_a_probe_is_made_once_and_stored(app: App) -> None:
    probes = app.media.probes
    await asyncio.gather(*(app.client.get(app.url(FILM)) for _ in range(5)))
    assert probes.probes_made == 1
    stored = await app.services.store.media_probe(app.files.infos[FILM].media_id)
    assert stored is not None
    probe = MediaProbe.from_json(stored)
    assert [t.codec for t in probe.tracks] == ["h264", "ac3"]
    assert probe.tracks[1].channels == 6 and probe.tracks[1].codec_string == "ac-3"
    assert [k.time for k in probe.keyframes] == [float(t) for t in range(0, 14, 2)]
    assert all(k.position > 0 for k in probe.keyframes)
    # Broken files are remembered as such.
    await app.client.get(app.url(BROKEN))
    await app.client.get(app.url(BROKEN))
    assert probes.probes_made == 2
    unreadable = await app.services.store.media_probe(app.files.infos[BROKEN].media_id)
    assert unreadable is not None and "unreadable" in unreadable


async def test_jobs_past_the_slots_answer_503_with_retry_after(app: App) -> None:
    await app.client.get(app.url(SRT_FILM))
    names = [f"{r}/{n}.ts" for r in ("v", "a1", "a2") for n in range(2)]
    answers = await asyncio.gather(*(app.client.get(app.url(SRT_FILM, n)) for n in names))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 2
    for answer in answers:
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1
    assert app.metric("tgstream_transcode_running_peak") <= 2
    assert app.metric("tgstream_transcode_jobs_total", outcome="busy") == statuses.count(503)


async def test_transcoded_audio_segments_join_without_gap_or_overlap(
    app: App, tmp_path: Path
) -> None:
    spans = []
    for number in range(3):
        answer = await app.client.get(app.url(FILM, f"a1/{number}.ts"))
        assert answer.status_code == 200
        path = tmp_path / f"{number}.ts"
        path.write_bytes(answer.content)
        with av.open(str(path)) as container:
            packets = [p for p in container.demux(audio=0) if p.pts is not None]
            first = packets[0]
            last = packets[-1]
            begin = float(first.pts * first.time_base)
            end = float(last.pts * last.time_base) + 1024 / 48_000
        spans.append((begin, end))
    # Each segment's packets take up where the last one's ended (AAC priming aside: each
    # segment's first packet is one frame early, so 1024 samples).
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin + 1024 / 48_000 == pytest.approx(end, abs=0.007)
    assert spans[0][0] + 1024 / 48_000 == pytest.approx(10.0, abs=0.007)
    assert spans[-1][1] == pytest.approx(10.0 + 14.0, abs=0.04)
