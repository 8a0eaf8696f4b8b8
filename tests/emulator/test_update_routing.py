"""Updates on one auth key used by two clients (replicas): the one with updates off (every
call in invokeWithoutUpdates) never takes them from the one handling them, and catches up
with updates.getDifference from the state the other left, exactly: each message once."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from pyrogram import raw

from tests.emulator.test_bot import bin_bot, send_document
from tests.support.kurigram import make_client
from tests.support.processes import EmulatorProcess


async def test_updates_off_takes_nothing_and_catches_up_from_the_stored_state(
    emu: EmulatorProcess, workdir: Path, tmp_path: Path
) -> None:
    calls: asyncio.Queue[int] = asyncio.Queue()
    async with bin_bot(emu, workdir, calls):
        pass  # sign in once: the key both clients share
    emu.control.reset_stats()
    standby_dir = tmp_path / "standby"
    standby_dir.mkdir()
    shutil.copy(workdir / "bot.session", standby_dir / "bot.session")

    # The second one starts after the first, reading the state as Kurigram does at every
    # start, with updates off.
    async with (
        bin_bot(emu, workdir, calls) as leader,
        make_client(emu.config, "bot", standby_dir),
    ):
        send_document(emu, 6161, os.urandom(2000), 2, file_name="first.bin")
        await asyncio.wait_for(calls.get(), 30)
        (state,) = await leader.storage.get_update_states(0)
        assert len(emu.control.messages_to(6161)) == 1
    assert emu.stats()["dcs"]["2"]["auth_keys_created"] == 0  # one key, two clients

    # The handling client is gone; three messages wait on the server.
    for index in range(3):
        send_document(emu, 6161, os.urandom(1000 + index), 2, file_name=f"late{index}.bin")
    async with make_client(emu.config, "bot", standby_dir) as standby:
        diff = await standby.invoke(
            raw.functions.updates.GetDifference(pts=state.pts, date=state.date, qts=0)
        )
        assert isinstance(diff, raw.types.updates.Difference)
        names = [m.media.document.attributes[-1].file_name for m in diff.new_messages]
        assert sorted(names) == ["late0.bin", "late1.bin", "late2.bin"]
        # Up to the server's state now (the bot's own reply moved its pts too, unseen).
        now = await standby.invoke(raw.functions.updates.GetState())
        assert diff.state.pts == now.pts > state.pts and diff.state.date >= state.date
        assert all(m.peer_id.user_id == 6161 for m in diff.new_messages)
        again = await standby.invoke(
            raw.functions.updates.GetDifference(
                pts=diff.state.pts, date=diff.state.date, qts=diff.state.qts
            )
        )
        assert isinstance(again, raw.types.updates.DifferenceEmpty)
        assert again.date >= diff.state.date
    # Nobody handled them: they were left for whoever catches up.
    assert len(emu.control.messages_to(6161)) == 1
