"""One replica answers the bot's users: three replicas on one shared state elect a leader
with a lease in Redis, and only it handles updates.  Killed (SIGKILL), it is replaced within
a lease period, and the new leader catches up with getDifference: 20 files sent meanwhile
get 20 answers and 20 copies in the bin channel, none twice.  Stopped cleanly (SIGTERM), it
releases the lease and another takes over at once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from tests.e2e.test_replicas import replica
from tests.support.processes import EmulatorProcess, ServerProcess

LEASE = 3.0  # seconds (LEASE); production's default is 10
# A take-over is due one lease period after the last renewal; the second period is room for
# a busy machine, where the status polls that see it wait on three loaded processes.
TAKE_OVER = 2 * LEASE
USER = 77001
OTHER_USER = 77002  # the emulator is shared by the tests of this file
_T = TypeVar("_T")


def poll(check: Callable[[], _T | None], within: float, what: str) -> _T:
    """`check()` once it is truthy; fails if that takes longer than `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.1)


def leaders(servers: list[ServerProcess]) -> list[ServerProcess]:
    return [s for s in servers if s.running() and s.status()["updates"]["role"] == "leader"]


def one_leader(servers: list[ServerProcess], within: float) -> ServerProcess:
    found = poll(lambda: leaders(servers) or None, within, "a leader")
    assert len(found) == 1, [s.url for s in found]
    return found[0]


def send(emu: EmulatorProcess, name: str, user: int = USER) -> None:
    emu.control.send_document(user, os.urandom(3000), 2, name=name)


def replies(emu: EmulatorProcess, user: int = USER) -> Counter[str]:
    """How many answers the user got per file name (the name is in each answer's text)."""
    return Counter(m["text"].split("\n", 1)[0] for m in emu.control.messages_to(user))


def copies(emu: EmulatorProcess) -> Counter[str]:
    channel = emu.config["bin_channel"]
    found = emu.control.channel_messages(channel)
    return Counter(m["file"]["name"] for m in found if m["file"] is not None)


def test_one_leader_answers_and_a_killed_one_is_replaced_without_loss_or_repeats(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    servers = [
        replica(
            server_factory, emu, tmp_path, f"r{i}", redis_url, LEASE=str(LEASE), STATE_TIMEOUT="1"
        )
        for i in range(3)
    ]
    leader = one_leader(servers, within=2 * LEASE)
    status = leader.status()["updates"]
    assert status["fence"] >= 1 and status["holder"]
    standbys = [s for s in servers if s is not leader]
    assert all(s.status()["updates"]["role"] == "standby" for s in standbys)
    assert "tgstream_leader 1.0" in httpx.get(f"{leader.url}/metrics").text
    assert "tgstream_leader 0.0" in httpx.get(f"{standbys[0].url}/metrics").text

    # Every replica is up, one answers.
    send(emu, "hello.bin")
    poll(lambda: replies(emu)["hello.bin"] == 1, 30, "the answer to hello.bin")
    time.sleep(LEASE)  # any second answer would be here by now
    assert replies(emu) == Counter({"hello.bin": 1})
    assert copies(emu)["hello.bin"] == 1

    leader.send(signal.SIGKILL)
    killed_at = time.monotonic()
    names = [f"during-{i:02d}.bin" for i in range(20)]
    for name in names:
        send(emu, name)
    new_leader = one_leader(standbys, within=TAKE_OVER)
    took_over = time.monotonic() - killed_at
    assert new_leader.status()["updates"]["fence"] > status["fence"]

    wanted = dict.fromkeys(names, 1) | {"hello.bin": 1}
    poll(lambda: replies(emu) == wanted or None, 60, "20 answers after the take-over")
    time.sleep(LEASE)  # nothing more comes: no answer twice
    assert replies(emu) == wanted
    assert all(copies(emu)[name] == 1 for name in names)
    assert copies(emu)["hello.bin"] == 1
    assert took_over < TAKE_OVER

    # A clean stop hands over at once: the lease is released, not left to run out.
    last = next(s for s in standbys if s is not new_leader)
    new_leader.stop()
    stopped_at = time.monotonic()
    assert one_leader([last], within=LEASE) is last
    # Released, not run out: a lease left to expire would take a full period or more.
    assert time.monotonic() - stopped_at < LEASE
    send(emu, "after.bin")
    poll(lambda: replies(emu)["after.bin"] == 1, 30, "the answer to after.bin")
    assert all("Traceback" not in s.logs() for s in servers)


def sent_copies(emu: EmulatorProcess) -> int:
    return int(emu.control.stats()["methods"].get("messages.sendMedia", 0))


def test_a_leader_killed_while_answering_leaves_that_message_to_the_next(
    emu: EmulatorProcess, server_factory: list[ServerProcess], tmp_path: Path, redis_url: str
) -> None:
    """The update was received, its pts known, its handler half-way (copying the file) when
    the leader died: the next leader still gets it from getDifference and answers it once.
    Had the pts been stored on arrival, as Kurigram stores it, the message would be lost."""
    servers = [
        replica(
            server_factory, emu, tmp_path, f"k{i}", redis_url, LEASE=str(LEASE), STATE_TIMEOUT="1"
        )
        for i in range(2)
    ]
    leader = one_leader(servers, within=2 * LEASE)
    standby = next(s for s in servers if s is not leader)
    bot_id = int(emu.config["bot_ids"][0])
    # The leader's copy into the bin channel is held (and never run): the handler is stuck
    # after the update's pts was known and before anything was answered.
    emu.control.rpc_error("messages.sendMedia", -503, "Timeout", user_id=bot_id, delay=600)
    before = sent_copies(emu)
    send(emu, "held.bin", OTHER_USER)
    poll(lambda: sent_copies(emu) > before, 30, "the leader copying held.bin")
    assert replies(emu, OTHER_USER)["held.bin"] == 0

    leader.send(signal.SIGKILL)
    assert one_leader([standby], within=TAKE_OVER) is standby
    poll(lambda: replies(emu, OTHER_USER)["held.bin"] == 1, 60, "the answer to held.bin")
    time.sleep(LEASE)  # any second answer would be here by now
    assert replies(emu, OTHER_USER) == Counter({"held.bin": 1})
    assert copies(emu)["held.bin"] == 1
    assert "Traceback" not in standby.logs()
