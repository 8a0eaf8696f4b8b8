""".env.example: every setting tgstream reads is there with a comment, and what it shows is
what tgstream accepts (a setting added later without its line fails here)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tgstream.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# `NAME=value`, set or commented out (`# NAME=value`).
_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
_MULTI = re.compile(r"MULTI_TOKEN[0-9]+")
REQUIRED = {
    "API_ID": "12345",
    "API_HASH": "0123456789abcdef0123456789abcdef",
    "BOT_TOKEN": "123456:AAH" + "x" * 32,
    "BIN_CHANNEL": "-1001234567890",
}
# Settings of issue 16 written into the example ahead of their fields, which other parts
# add; once they are fields, the checks below hold them like every other.
AHEAD = {"LINK_TTL", "OWNERS", "RATE_LIMIT", "MAX_STREAMS_PER_IP", "TRUSTED_PROXIES"}


def entries() -> list[tuple[int, bool, str, str]]:
    """(line number, commented out, name, value) for each variable line."""
    found = []
    for number, line in enumerate(EXAMPLE.read_text().splitlines()):
        match = _LINE.match(line)
        if match:
            found.append((number, bool(match[1]), match[2], match[3]))
    return found


def variable(field: str) -> str:
    # MULTI_TOKEN1..n feed the one field `multi_tokens`.
    return "MULTI_TOKEN1" if field == "multi_tokens" else field.upper()


def test_every_setting_is_in_the_example() -> None:
    names = {name for _, _, name, _ in entries()}
    missing = [variable(f) for f in Settings.model_fields if variable(f) not in names]
    assert not missing, f"add to .env.example (with a comment): {missing}"


def test_every_name_in_the_example_is_a_setting() -> None:
    known = {variable(f) for f in Settings.model_fields} | AHEAD
    unknown = [
        name for _, _, name, _ in entries() if name not in known and not _MULTI.fullmatch(name)
    ]
    assert not unknown


def test_each_variable_has_a_comment_right_above() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for number, _, name, _ in entries():
        above = number - 1
        # A run of variables shares the comment above the run (HAS_SSL after FQDN).
        while above >= 0 and _LINE.match(lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("# ") and len(lines[above]) > 4, name
        assert not _LINE.match(lines[above])


def test_only_the_required_four_are_set_and_they_are_empty() -> None:
    active = {name: value for _, commented, name, value in entries() if not commented}
    assert active == dict.fromkeys(REQUIRED, "")


@pytest.fixture
def in_empty_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    names = {variable(f) for f in Settings.model_fields} | AHEAD
    for name in list(os.environ):
        if name.upper() in names or _MULTI.fullmatch(name.upper()):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_copied_as_is_it_asks_for_the_first_required_value(in_empty_dir: Path) -> None:
    shutil.copy(EXAMPLE, in_empty_dir / ".env")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == "API_ID: missing (set it in the environment or .env)"


def test_filled_in_it_loads_and_each_default_shown_is_the_real_one(in_empty_dir: Path) -> None:
    text = EXAMPLE.read_text()
    for name, value in REQUIRED.items():
        text = text.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    (in_empty_dir / ".env").write_text(text)
    defaults = load_settings()
    for _, commented, name, value in entries():
        if not commented or not value:
            continue
        # Uncommenting a line as written changes nothing: the value shown is the default.
        (in_empty_dir / ".env").write_text(f"{text}\n{name}={value}\n")
        assert load_settings() == defaults, name
