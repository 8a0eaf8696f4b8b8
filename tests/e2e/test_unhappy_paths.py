"""Telegram's unhappy paths as a user meets them, over real MTProto against the emulator:
a long flood wait on sign-in, flood waits on the first DC 4 stream, FLOOD_PREMIUM_WAIT mid
stream, a flooded message fetch with one bot and with two, a DC down or hanging, a deleted
message, a gone file, a leaked link to a missing message, a bot removed from the bin
channel, and Telegram's own bad metadata.  Each ends in bytes (hashed), a prompt JSON error
with Retry-After where waiting helps, or a visibly aborted body, never a 500."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_server
from tests.e2e.test_bot_flow import replies_to
from tests.support.processes import EmulatorProcess, ServerProcess
from tests.support.transfers import assert_exact_or_aborted, read_while, sha

MiB = 1 << 20
FILE_DC = 4


def post(emu: EmulatorProcess, size: int, name: str = "file.bin", **form: str) -> tuple[bytes, int]:
    data = os.urandom(size)
    posted = emu.post_to_channel(data, dc=FILE_DC, name=name, **form)
    return data, int(posted["message_id"])


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def get(url: str, range_header: str | None = None) -> httpx.Response:
    headers = {"Range": range_header} if range_header else {}
    return httpx.get(url, headers=headers, timeout=90)


def assert_exact(response: httpx.Response, expected: bytes, status: int = 200) -> None:
    assert response.status_code == status, response.text[:300]
    assert int(response.headers["content-length"]) == len(expected)
    assert sha(response.content) == sha(expected)


def assert_unavailable(response: httpx.Response) -> int:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]
    return int(response.headers["retry-after"])


def until(condition: Callable[[], bool], timeout: float, step: float = 0.25) -> float:
    """Seconds until `condition()` held; AssertionError after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def calls(emu: EmulatorProcess, method: str) -> int:
    return int(emu.stats()["methods"].get(method, 0))


def two_bots(emu: EmulatorProcess) -> dict[str, str]:
    return {"MULTI_TOKEN1": emu.config["bot_tokens"][1]}


# --- start-up ---------------------------------------------------------------------------


def test_a_long_flood_wait_on_sign_in_is_waited_out_once_across_a_restart(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 300_000)
    emulator.faults(flood_waits=[{"method": "auth.importBotAuthorization", "seconds": 65}])
    server = ServerProcess(emulator, tmp_path / "fresh", tmp_path / "signin.log")
    server.session_dir.mkdir()
    server_factory.append(server)
    flooded_at = time.monotonic()
    server.start(wait_ready=False)  # listening at once, not waiting for the bots
    until(lambda: calls(emulator, "auth.importBotAuthorization") == 1, 30)

    status = server.status()
    assert status["ready"] is False and status["serving"] is False
    (reason,) = status["not_ready"]
    assert "FLOOD_WAIT on sign-in" in reason and "s left" in reason
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    response, seconds = timed(lambda: get(server.link(message_id)))
    assert 50 <= assert_unavailable(response) <= 65 and seconds < 5

    # A restart mid-wait (a deploy, Docker's restart policy) calls sign-in no earlier.
    assert server.stop() == 0
    server.start(wait_ready=False)
    time.sleep(2)
    assert calls(emulator, "auth.importBotAuthorization") == 1
    assert "FLOOD_WAIT on sign-in" in server.status()["not_ready"][0]

    until(lambda: server.status()["ready"], 65 + 30, step=1)
    assert time.monotonic() - flooded_at >= 60, "signed in before the wait was over"
    stats = emulator.stats()
    assert stats["dcs"]["2"]["bot_signins"] == 1
    assert calls(emulator, "auth.importBotAuthorization") == 2  # the flooded one, then one
    assert_exact(get(server.link(message_id)), data)
    assert "Traceback" not in server.logs()


def test_a_refused_bot_token_is_one_line_and_exit_code_2(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    emulator.faults(
        rpc_errors=[
            {
                "method": "auth.importBotAuthorization",
                "code": 400,
                "message": "ACCESS_TOKEN_INVALID",
            }
        ]
    )
    server = ServerProcess(emulator, tmp_path / "refused", tmp_path / "refused.log")
    server.session_dir.mkdir()
    server_factory.append(server)
    server.start(wait_ready=False)
    assert server.proc is not None
    assert server.proc.wait(60) == 2
    lines = [line for line in server.logs().splitlines() if line.startswith("tgstream:")]
    assert lines == ["tgstream: BOT_TOKEN: Telegram refused the bot (ACCESS_TOKEN_INVALID)"]
    assert "Traceback" not in server.logs()


def test_a_flooded_extra_bot_never_holds_up_the_main_one(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 200_000)
    extra_bot = emulator.config["bot_ids"][1]
    emulator.faults(
        flood_waits=[
            {"method": "auth.importBotAuthorization", "seconds": 3600, "user_id": extra_bot}
        ]
    )
    server = ServerProcess(
        emulator, tmp_path / "extra", tmp_path / "extra.log", extra_env=two_bots(emulator)
    )
    server.session_dir.mkdir()
    server_factory.append(server)
    server.start(wait_ready=False)

    def extra_bot_waits() -> bool:
        reasons = server.status()["not_ready"]
        return any("FLOOD_WAIT on sign-in" in r and str(extra_bot) in r for r in reasons)

    # The main bot serves while the extra one sits out its flood wait (the two sign in one
    # after another, so either may be first to get there).
    until(lambda: server.status()["serving"] and extra_bot_waits(), 30)
    assert server.status()["ready"] is False
    assert_exact(get(server.link(message_id)), data)


def test_telegram_unreachable_at_start(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    """The bot's home DC refuses connections: the server still listens, says why it is not
    ready, answers links 503 at once, and signs in once the DC is back."""
    data, message_id = post(emulator, 100_000)
    emulator.faults(dcs={"2": {"down": True}})
    server = ServerProcess(emulator, tmp_path / "offline", tmp_path / "offline.log")
    server.session_dir.mkdir()
    server_factory.append(server)
    try:
        server.start(wait_ready=False)
        until(lambda: "cannot reach Telegram" in " ".join(server.status()["not_ready"]), 60)
        response, seconds = timed(lambda: get(server.link(message_id)))
        assert_unavailable(response)
        assert seconds < 5
    finally:
        emulator.faults(dcs={"2": {"down": False}})
    until(lambda: server.status()["ready"], 45, step=0.5)
    assert_exact(get(server.link(message_id)), data)
    assert emulator.dc_stats(2)["bot_signins"] == 1
    assert "Traceback" not in server.logs()


def test_the_bots_own_calls_refused(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    """A copy into the bin channel refused (the bot lost the channel): the user is told, no
    traceback.  A reply refused (the user blocked the bot): given up after one log line."""
    server = new_server(server_factory, emulator, tmp_path, "bot-refused")
    refused_copy = {"method": "messages.sendMedia", "code": 400, "message": "CHANNEL_PRIVATE"}
    emulator.faults(rpc_errors=[refused_copy])
    emulator.post_file("/users/8301/documents", os.urandom(50_000), FILE_DC, "lost.bin")
    (reply,) = replies_to(emulator, 8301, 1)
    assert "could not store your file" in reply["text"]
    assert not reply["urls"]

    blocked = {"method": "messages.sendMessage", "code": 403, "message": "USER_IS_BLOCKED"}
    emulator.faults(rpc_errors=[blocked])
    httpx.post(f"{emulator.url}/users/8302/messages", json={"text": "/start"}).raise_for_status()
    until(lambda: emulator.faults()["rpc_errors"] == [], 30)
    until(lambda: "USER_IS_BLOCKED" in server.logs(), 10)
    assert httpx.get(f"{emulator.url}/users/8302/messages").json() == []
    assert "Traceback" not in server.logs()


# --- flood waits while streaming --------------------------------------------------------


@pytest.mark.parametrize("bots", [1, 2])
def test_flood_premium_wait_mid_stream(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, bots: int
) -> None:
    """Telegram's download-speed limit arrives mid-body: waited out with one bot, moved to
    the other bot with two; the body is byte-exact either way."""
    data, message_id = post(emulator, 48 * MiB + 5)
    env = {"CACHE_SIZE_MB": "0", **(two_bots(emulator) if bots == 2 else {})}
    server = new_server(server_factory, emulator, tmp_path, f"premium{bots}", **env)
    # An account cap keeps the body in flight for about eight seconds, so the limit lands
    # mid-body however many connections the server opens and however busy the machine is.
    emulator.faults(account_bandwidth_bps=6_000_000)
    premium = {
        "method": "upload.getFile",
        "dc": FILE_DC,
        "code": 420,
        "message": "FLOOD_PREMIUM_WAIT_3",
        "count": 2,
    }
    outcome = read_while(
        server.link(message_id), 4 * MiB, lambda: emulator.faults(rpc_errors=[premium])
    )
    assert outcome.aborted_with is None, outcome.aborted_with
    assert_exact_or_aborted(outcome, data)
    assert 0 <= outcome.received_when_acted < len(data)
    assert emulator.faults()["rpc_errors"] == [], "the limit never hit the stream"
    flood = server.status()["flood"]
    if bots == 2:
        assert flood["failovers"] >= 1
    else:
        assert flood["waits_slept"] >= 1


def test_a_long_flood_on_message_fetch_moves_to_the_other_bot(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 100_000)
    main_bot = emulator.config["bot_ids"][0]
    server = new_server(server_factory, emulator, tmp_path, "two", **two_bots(emulator))
    emulator.faults(
        flood_waits=[{"method": "channels.getMessages", "seconds": 120, "user_id": main_bot}]
    )
    response, seconds = timed(lambda: get(server.link(message_id)))
    assert_exact(response, data)
    assert seconds < 10
    assert server.status()["flood"]["failovers"] == 1


# --- a DC down or hanging ---------------------------------------------------------------


@pytest.mark.parametrize("fault", ["down", "hang"])
@pytest.mark.parametrize("warm", [True, False])
def test_the_files_dc_down_or_hanging(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    fault: str,
    warm: bool,
) -> None:
    """503 within the first-byte deadline while the DC is out, bytes again within 10 s of its
    return, whether the server had connections there already (warm) or not."""
    deadline = 6
    data, message_id = post(emulator, 3 * MiB)
    server = new_server(
        server_factory,
        emulator,
        tmp_path,
        f"{fault}-{warm}",
        CACHE_SIZE_MB="0",
        FIRST_BYTE_DEADLINE=str(deadline),
    )
    link = server.link(message_id)
    if warm:
        assert_exact(get(link, "bytes=0-9999"), data[:10_000], 206)
    else:
        # Resolved (DC 2), but nothing opened on DC 4 yet.
        assert httpx.head(link, timeout=30).status_code == 200
    emulator.faults(dcs={str(FILE_DC): {fault: True}})
    try:
        for _ in range(2):
            response, seconds = timed(lambda: get(link, "bytes=1000000-1999999"))
            assert_unavailable(response)
            assert seconds < deadline + 3, f"answered after {seconds:.1f} s"
    finally:
        emulator.faults(dcs={str(FILE_DC): {fault: False}})
    back = time.monotonic()

    def served() -> bool:
        response = httpx.get(link, headers={"Range": "bytes=2000000-2099999"}, timeout=30)
        return response.status_code == 206 and response.content == data[2_000_000:2_100_000]

    until(served, 10 + deadline)
    assert time.monotonic() - back < 10 + deadline
    assert_exact(get(link), data)
    assert "Traceback" not in server.logs()


# --- files that go away -----------------------------------------------------------------


def delete_message(emu: EmulatorProcess, message_id: int) -> None:
    url = f"{emu.url}/channels/{emu.config['bin_channel']}/messages/{message_id}"
    httpx.delete(url).raise_for_status()


@pytest.mark.parametrize("restart", [False, True])
def test_a_deleted_message_stops_streaming_within_the_recheck_time(
    emulator: EmulatorProcess,
    server_factory: list[ServerProcess],
    tmp_path: Path,
    restart: bool,
) -> None:
    recheck = 3
    data, message_id = post(emulator, 2 * MiB)
    server = new_server(
        server_factory, emulator, tmp_path, f"deleted-{restart}", FILE_RECHECK=str(recheck)
    )
    link = server.link(message_id)
    assert_exact(get(link), data)
    assert server.status()["cache"]["bytes"] >= len(data)
    if restart:
        assert server.stop() == 0
    delete_message(emulator, message_id)
    deleted_at = time.monotonic()
    if restart:
        server.start()
        # The bound is on tgstream noticing, not on how long a restart takes on a busy
        # machine (11 s beside four other test processes and two CPU hogs).
        deleted_at = time.monotonic()
    took = until(lambda: get(link).status_code == 404, recheck + 10)
    assert time.monotonic() - deleted_at <= recheck + 5, took
    response = get(link)
    assert response.status_code == 404 and response.json()["error"]
    assert server.status()["cache"]["bytes"] == 0, "the deleted file's parts are still cached"
    watch = httpx.get(link.replace("/dl/", "/watch/"), timeout=30)
    assert watch.status_code == 404


def test_a_gone_file_is_404_never_500(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 2 * MiB)
    server = new_server(server_factory, emulator, tmp_path, "gone", CACHE_SIZE_MB="0")
    link = server.link(message_id)
    assert_exact(get(link, "bytes=0-99"), data[:100], 206)
    file_id = httpx.get(
        f"{emulator.url}/channels/{emulator.config['bin_channel']}/messages/{message_id}"
    ).json()["file"]["id"]
    httpx.delete(f"{emulator.url}/files/{file_id}").raise_for_status()
    response, seconds = timed(lambda: get(link, "bytes=1048576-"))
    assert response.status_code == 404, response.text
    assert response.json()["error"] and seconds < 10
    fetches = calls(emulator, "channels.getMessages")
    for _ in range(20):
        assert get(link).status_code == 404
    assert calls(emulator, "channels.getMessages") == fetches
    assert "Traceback" not in server.logs()


def test_a_thousand_requests_for_a_missing_message_cost_a_handful_of_calls(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    server = new_server(server_factory, emulator, tmp_path, "missing")
    link = server.link(987_654, "leaked.mkv")
    before = calls(emulator, "channels.getMessages")

    async def hammer() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            statuses: list[int] = []
            for _ in range(20):
                batch = await asyncio.gather(*(client.get(link) for _ in range(50)))
                statuses += [r.status_code for r in batch]
            return statuses

    statuses = asyncio.run(hammer())
    assert statuses == [404] * 1000
    assert calls(emulator, "channels.getMessages") - before <= 3
    # Concurrent first requests share one fetch; every later one is a negative-cache hit.
    assert server.status()["resolver"]["missing_hits"] >= 900


def test_a_bot_removed_from_the_bin_channel(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 100_000)
    channel = emulator.config["bin_channel"]
    main_bot, extra_bot = emulator.config["bot_ids"][:2]
    members = f"{emulator.url}/channels/{channel}/members"
    server = new_server(server_factory, emulator, tmp_path, "removed")
    httpx.delete(f"{members}/{main_bot}").raise_for_status()
    try:
        for _ in range(3):
            response, seconds = timed(lambda: get(server.link(message_id)))
            assert_unavailable(response)
            assert seconds < 10
        problems = server.status()["resolver"]["bin_channel_unreadable_by"]
        assert problems == {str(main_bot): "CHANNEL_PRIVATE"}
        lines = [line for line in server.logs().splitlines() if "cannot read the bin" in line]
        assert len(lines) == 1, lines
        # With a second bot that is still an admin there, links keep working.
        both = new_server(server_factory, emulator, tmp_path, "removed2", **two_bots(emulator))
        assert_exact(get(both.link(message_id)), data)
    finally:
        httpx.put(f"{members}/{main_bot}").raise_for_status()
    assert extra_bot != main_bot
    assert_exact(get(server.link(message_id)), data)
    assert server.status()["resolver"]["bin_channel_unreadable_by"] == {}


# --- Telegram's own bad metadata --------------------------------------------------------


def test_a_document_shorter_than_its_declared_size(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    real = 2 * MiB + 100
    declared = 5 * MiB
    data, message_id = post(emulator, real, declared_size=str(declared))
    server = new_server(server_factory, emulator, tmp_path, "short")
    link = server.link(message_id)
    # A range wholly past the real data: 416, with the real size.
    response = get(link, f"bytes={3 * MiB}-{3 * MiB + 10}")
    assert response.status_code == 416, response.text
    assert response.headers["content-range"] == f"bytes */{real}"
    # From now on the file is its real size: whole and byte-exact.
    assert_exact(get(link), data)
    assert_exact(get(link, f"bytes={real - 100}-{declared}"), data[-100:], 206)
    assert "Traceback" not in server.logs()


def test_a_fresh_full_read_of_a_short_document_aborts_visibly(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    real = 2 * MiB + 100
    data, message_id = post(emulator, real, declared_size=str(4 * MiB))
    server = new_server(server_factory, emulator, tmp_path, "short-full")
    outcome = read_while(server.link(message_id), 1, lambda: None)
    # Headers promised the declared size; the body can only end cut, never short and clean.
    assert outcome.status == 200 and outcome.aborted_with is not None
    assert outcome.received <= real
    assert_exact(get(server.link(message_id)), data)


def test_control_characters_in_a_mime_type(
    emulator: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path
) -> None:
    data, message_id = post(emulator, 70_000, mime_type="video/mp4\r\nX-Injected: yes")
    server = new_server(server_factory, emulator, tmp_path, "crlf")
    link = server.link(message_id)
    for response in (httpx.head(link, timeout=30), get(link)):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert "x-injected" not in response.headers
    assert_exact(get(link), data)
    assert "Traceback" not in server.logs()
