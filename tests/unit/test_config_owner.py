"""OWNERS and LINK_TTL: parsed, and refused in one line naming the variable."""

from __future__ import annotations

import pytest

from tests.unit.test_config import clean_env, config_error, env
from tgstream.config import load_settings

__all__ = ["clean_env", "env"]  # the fixtures, shared with test_config.py


def test_defaults(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.owners == frozenset() and settings.link_ttl is None


def test_owners(env: pytest.MonkeyPatch) -> None:
    env.setenv("OWNERS", " 7, 8,,7")
    assert load_settings().owners == frozenset({7, 8})


@pytest.mark.parametrize(("value", "seconds"), [("3600", 3600), ("24h", 86400), ("7d", 604800)])
def test_link_ttl(env: pytest.MonkeyPatch, value: str, seconds: int) -> None:
    env.setenv("LINK_TTL", value)
    assert load_settings().link_ttl == seconds


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OWNERS", "me"),
        ("OWNERS", "-1"),
        ("LINK_TTL", "0"),
        ("LINK_TTL", "forever"),
        ("LINK_TTL", "3651d"),
        ("LINK_TTL", "-5m"),
    ],
)
def test_bad_values_are_named(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    error = config_error(**{name: value})
    assert error.variable_name == name and error.reason
