"""A stock Kurigram bot with ordinary handlers, run against the emulator unmodified."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyrogram import Client, errors, filters, raw
from pyrogram.enums import ChatAction
from pyrogram.file_id import FileId
from pyrogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message

from tests.support.kurigram import make_client
from tests.support.processes import EmulatorProcess

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_document(
    emu: EmulatorProcess, user_id: int, data: bytes, dc: int, **form: str
) -> dict[str, Any]:
    name = form.pop("file_name", "file.bin")
    return emu.post_file(f"/users/{user_id}/documents", data, dc, name, **form)


def bin_bot(emu: EmulatorProcess, workdir: Path, calls: asyncio.Queue[int]) -> Client:
    client = make_client(emu.config, "bot", workdir, no_updates=False, skip_updates=False)
    bin_channel = emu.config["bin_channel"]

    @client.on_message(filters.private & (filters.video | filters.document))
    async def store(c: Client, message: Message) -> None:
        copy = await message.copy(bin_channel)
        link = f"https://files.example.test/dl/{copy.id}"
        await message.reply_text(
            f"Saved {copy.id}: {link}",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Download", url=link)]]),
        )
        calls.put_nowait(copy.id)

    return client


async def test_bot_copies_a_video_to_the_bin_channel_and_replies(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(12 * MiB + 321)
    calls: asyncio.Queue[int] = asyncio.Queue()
    client = bin_bot(emu, workdir, calls)
    async with client:
        sent = send_document(
            emu, 4242, data, 4, kind="video", file_name="clip.mp4", mime_type="video/mp4"
        )
        assert sent["dc_id"] == 4
        copy_id = await asyncio.wait_for(calls.get(), 30)

        replies = httpx.get(f"{emu.url}/users/4242/messages").json()
        assert len(replies) == 1
        link = f"https://files.example.test/dl/{copy_id}"
        assert replies[0]["urls"] == [link]
        assert replies[0]["reply_markup"]["inline_keyboard"][0][0]["url"] == link

        copy = await client.get_messages(emu.config["bin_channel"], copy_id)
        assert copy.video is not None and copy.video.file_size == len(data)
        emu.reset()
        downloaded = await client.download_media(copy, in_memory=True)
        assert sha(bytes(downloaded.getbuffer())) == sha(data)
    dc4 = emu.dc_stats(4)
    assert dc4["getfile_bytes"] == len(data) and dc4["file_migrate_errors"] == 0


async def test_messages_sent_while_the_bot_was_down_arrive_once(
    emu: EmulatorProcess, workdir: Path
) -> None:
    calls: asyncio.Queue[int] = asyncio.Queue()
    async with bin_bot(emu, workdir, calls):
        pass  # first run: sign in and record the update state

    for index in range(3):
        send_document(emu, 5151, os.urandom(1000 + index), 2, file_name=f"f{index}.bin")

    async with bin_bot(emu, workdir, calls):
        got = [await asyncio.wait_for(calls.get(), 30) for _ in range(3)]
        await asyncio.sleep(1.5)  # anything more would be a duplicate
        assert calls.empty()
    assert len(set(got)) == 3
    assert len(httpx.get(f"{emu.url}/users/5151/messages").json()) == 3


async def test_rotated_reference_fails_and_refetched_message_works(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(MiB + 1)
    posted = httpx.post(
        f"{emu.url}/channels/{emu.config['bin_channel']}/documents",
        files={"file": ("doc.bin", data)},
        data={"dc_id": "2"},
    ).json()
    async with make_client(emu.config, "bot", workdir) as client:
        old = await client.get_messages(emu.config["bin_channel"], posted["message_id"])
        emu.faults(rotate_file_references=True)
        media = await client.get_session(2, is_media=True)
        decoded = FileId.decode(old.document.file_id)
        stale = raw.types.InputDocumentFileLocation(
            id=decoded.media_id,
            access_hash=decoded.access_hash,
            file_reference=decoded.file_reference,
            thumb_size="",
        )
        with pytest.raises(errors.FileReferenceExpired):
            await media.invoke(raw.functions.upload.GetFile(location=stale, offset=0, limit=MiB))
        assert emu.dc_stats(2)["file_reference_expired"] == 1

        fresh = await client.get_messages(emu.config["bin_channel"], posted["message_id"])
        refreshed = FileId.decode(fresh.document.file_id)
        assert refreshed.file_reference != decoded.file_reference
        downloaded = await client.download_media(fresh, in_memory=True)
        assert sha(bytes(downloaded.getbuffer())) == sha(data)


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/users/0/documents", {"data": {"dc_id": "2"}, "files": {"file": ("a", b"x")}}, 400),
        ("/users/77/documents", {"data": {"dc_id": "9"}, "files": {"file": ("a", b"x")}}, 400),
        ("/users/77/documents", {"data": {"dc_id": "2"}, "files": {"file": ("a", b"")}}, 400),
        ("/users/77/documents", {"data": {"dc_id": "x"}, "files": {"file": ("a", b"x")}}, 422),
        ("/users/77/documents", {"data": {"dc_id": "2"}}, 422),
        (
            "/users/77/documents",
            {"data": {"dc_id": "2", "kind": "sticker"}, "files": {"file": ("a", b"x")}},
            400,
        ),
        ("/users/77/messages", {"json": {"text": ""}}, 422),
        ("/users/77/messages", {"content": b"not json"}, 422),
        (
            "/channels/-1001/documents",
            {"data": {"dc_id": "2"}, "files": {"file": ("a", b"x")}},
            404,
        ),
        ("/files", {"data": {"dc_id": "0"}, "files": {"file": ("a", b"x")}}, 400),
        ("/faults", {"json": {"dcs": {"4": {"latency_ms": -1}}}}, 400),
        ("/faults", {"json": {"dcs": {"9": {"latency_ms": 1}}}}, 400),
        ("/faults", {"json": {"nonsense": 1}}, 400),
        ("/faults", {"content": b"{"}, 400),
    ],
)
def test_control_api_rejects_bad_input_with_json_4xx(
    emu: EmulatorProcess, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = httpx.post(f"{emu.url}{path}", **kwargs)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_control_api_unknown_user_messages_is_404(emu: EmulatorProcess) -> None:
    response = httpx.get(f"{emu.url}/users/999999/messages")
    assert response.status_code == 404 and "error" in response.json()


async def test_forward_keeps_the_file_and_its_dc(emu: EmulatorProcess, workdir: Path) -> None:
    data = os.urandom(MiB + 9)
    channel = emu.config["bin_channel"]
    calls: asyncio.Queue[Message] = asyncio.Queue()
    client = make_client(emu.config, "bot", workdir, no_updates=False, skip_updates=False)

    @client.on_message(filters.private & filters.document)
    async def forward(c: Client, message: Message) -> None:
        calls.put_nowait(await message.forward(channel))

    async with client:
        send_document(emu, 6161, data, 3, file_name="report.pdf")
        forwarded = await asyncio.wait_for(calls.get(), 30)
        assert forwarded.chat.id == channel and forwarded.document.file_name == "report.pdf"
        assert FileId.decode(forwarded.document.file_id).dc_id == 3
        again = await client.get_messages(channel, forwarded.id)
        downloaded = await client.download_media(again, in_memory=True)
        assert sha(bytes(downloaded.getbuffer())) == sha(data)


async def test_bool_answers_reach_a_stock_client(emu: EmulatorProcess, workdir: Path) -> None:
    # Methods whose answer is a bare Bool (set and reset the command menu, a typing action).
    client = make_client(emu.config, "bot", workdir)
    async with client:
        commands = [BotCommand("link", "a link to the file you reply to")]
        assert await client.set_bot_commands(commands) is True
        assert [c.command for c in await client.get_bot_commands()] == ["link"]
        assert await client.delete_bot_commands() is True
        assert await client.get_bot_commands() == []
        bin_channel = emu.config["bin_channel"]
        await client.get_chat(bin_channel)
        assert await client.send_chat_action(bin_channel, ChatAction.UPLOAD_DOCUMENT) is True
    assert emu.stats()["errors"].get("INTERNAL", 0) == 0
