"""The typed control-API client against a running emulator: each call does what its route
does, as the emulator's own answers and counters show."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.processes import EmulatorProcess
from tgemu.control_client import ControlClient


@pytest.fixture
def control(emu: EmulatorProcess) -> ControlClient:
    return ControlClient(emu.url + "/")  # a trailing slash is tolerated


def test_config_and_health(control: ControlClient, emu: EmulatorProcess) -> None:
    config = control.config()
    assert config == emu.config
    assert set(config["dcs"]) == {"1", "2", "3", "4", "5"}
    assert config["bot_tokens"][0] == config["bot_token"]
    assert control.healthy()
    assert not ControlClient("http://127.0.0.1:9").healthy()


def test_files_and_channel_messages(control: ControlClient, emu: EmulatorProcess) -> None:
    data = os.urandom(70_000)
    stored = control.upload(data, dc=3, name="a.bin", mime_type="application/x-test")
    assert (stored["dc_id"], stored["size"], stored["file_name"]) == (3, len(data), "a.bin")
    assert stored["mime_type"] == "application/x-test"

    channel = emu.config["bin_channel"]
    posted = control.post_to_channel(channel, data, dc=4, name="b.bin", caption="hello")
    message = control.channel_message(channel, posted["message_id"])
    assert message["text"] == "hello"
    assert message["file"] is not None and message["file"]["dc_id"] == 4
    assert posted["message_id"] in [m["id"] for m in control.channel_messages(channel)]

    deleted = control.delete_channel_message(channel, posted["message_id"])
    assert deleted["deleted"] == [posted["message_id"]]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        control.channel_message(channel, posted["message_id"])
    assert refused.value.response.status_code == 404

    assert control.delete_file(stored["id"])["gone"] is True
    with pytest.raises(httpx.HTTPStatusError):
        control.delete_file(stored["id"])


def test_a_path_is_uploaded_as_its_bytes(
    control: ControlClient, emu: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "clip.bin"
    source.write_bytes(os.urandom(50_000))
    sent = control.send_document(8_801, source, dc=2, name="clip.bin", caption="from disk")
    assert sent["size"] == 50_000 and sent["dc_id"] == 2
    assert sent["bot_id"] == emu.config["bot_ids"][0]


def test_text_messages_and_membership(control: ControlClient, emu: EmulatorProcess) -> None:
    sent = control.send_text(8_802, "/start")
    assert sent["bot_id"] == emu.config["bot_ids"][0]
    assert control.messages_to(8_802) == []  # no bot is signed in to answer
    bot = emu.config["bot_ids"][0]
    channel = emu.config["bin_channel"]
    assert control.set_member(channel, bot, False)["member"] is False
    assert control.set_member(channel, bot, True)["member"] is True


def test_faults(control: ControlClient) -> None:
    shaped = control.shape_dc(4, latency_ms=80, bandwidth_bps=8_000_000)
    assert shaped["dcs"]["4"]["latency_ms"] == 80
    assert shaped["dcs"]["4"]["bandwidth_bps"] == 8_000_000
    assert control.dc_down(5)["dcs"]["5"]["down"] is True
    assert control.dc_up(5)["dcs"]["5"]["down"] is False
    assert control.account_bandwidth(1_000_000)["account_bandwidth_bps"] == 1_000_000
    flood = control.flood_wait("upload.getFile", 7, dc=4, count=2)["flood_waits"]
    assert flood == [
        {"method": "upload.getFile", "seconds": 7, "dc": 4, "count": 2, "user_id": None}
    ]
    errors = control.rpc_error("upload.getFile", 400, "LIMIT_INVALID", user_id=42)["rpc_errors"]
    assert errors == [
        {
            "method": "upload.getFile",
            "code": 400,
            "message": "LIMIT_INVALID",
            "dc": None,
            "count": 1,
            "user_id": 42,
            "delay": 0,
        }
    ]
    held = control.rpc_error("messages.sendMedia", -503, "Timeout", delay=2.5)["rpc_errors"]
    assert held[-1]["delay"] == 2.5 and held[-1]["code"] == -503
    rotations = control.faults()["file_reference_rotations"]
    assert control.rotate_file_references()["file_reference_rotations"] == rotations + 1
    control.revoke_authorizations(1, 3)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        control.set_dc(4, latency_ms=-1)
    assert refused.value.response.status_code == 400

    cleared = control.clear_faults()
    assert cleared["flood_waits"] == [] and cleared["rpc_errors"] == []
    assert cleared["dcs"]["4"]["latency_ms"] == 0 and cleared["account_bandwidth_bps"] is None


def test_stats_reset(control: ControlClient, emu: EmulatorProcess) -> None:
    assert set(control.stats()["dcs"]) == {"1", "2", "3", "4", "5"}
    reset = control.reset_stats()
    assert reset["dcs"]["2"]["getfile_requests"] == 0
    assert control.dc_stats(2)["getfile_requests"] == 0
