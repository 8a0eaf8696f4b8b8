"""`tgstream bench --transcode`'s own parts: the film it makes (AC3 5.1 in MKV, keyframes
every 2 s) and the table it prints."""

from __future__ import annotations

from pathlib import Path

from tgbench import transcode
from tgstream.media.inspect import inspect


def test_the_film_has_ac3_surround_and_regular_keyframes(tmp_path: Path) -> None:
    film = transcode.make_film(tmp_path / "film.mkv", 6)
    with film.open("rb") as handle:
        probe = inspect(handle)
    (audio,) = probe.audios()
    assert (audio.codec, audio.channels) == ("ac3", 6)
    assert [k.time for k in probe.keyframes] == [0.0, 2.0, 4.0]
    assert abs(probe.duration - 6.0) < 0.1


def test_the_table_says_cpu_per_second_of_audio() -> None:
    row = {
        "audio_seconds": 60.0,
        "cpu_seconds": 0.75,
        "cpu_per_audio_second": 0.0125,
        "wall_seconds": 3.5,
        "segments": 10,
        "errors": [],
        "bytes_correct": True,
    }
    text = transcode.table(row)
    assert "CPU seconds per second of transcoded audio: 0.0125" in text
    assert "80x real time" in text and "errors: none" in text
