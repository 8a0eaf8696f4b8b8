"""A stock Kurigram client against the emulator process, over real MTProto."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pyrogram import errors, raw

from tests.support.kurigram import document_location, make_client
from tests.support.processes import EmulatorProcess

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_sign_in_get_me_and_download_20mib_from_dc4(
    emu: EmulatorProcess, workdir: Path
) -> None:
    data = os.urandom(20 * MiB + 777)
    uploaded = emu.upload(data, dc=4, name="big.bin")
    assert uploaded["dc_id"] == 4 and uploaded["size"] == len(data)
    emu.reset()

    async with make_client(emu.config, "bot", workdir) as client:
        me = await client.get_me()
        assert me.is_bot and me.id == int(emu.config["bot_token"].split(":")[0])
        downloaded = await client.download_media(uploaded["file_id"], in_memory=True)
        assert sha(bytes(downloaded.getbuffer())) == sha(data)
        streamed = b"".join([chunk async for chunk in client.stream_media(uploaded["file_id"])])
        assert sha(streamed) == sha(data)

    dc2, dc4 = emu.dc_stats(2), emu.dc_stats(4)
    assert (dc2["auth_keys_created"], dc2["bot_signins"], dc2["auth_imports"]) == (1, 1, 0)
    assert (dc4["auth_keys_created"], dc4["bot_signins"], dc4["auth_imports"]) == (1, 0, 1)
    assert dc4["getfile_bytes"] == 2 * len(data)
    assert dc4["file_migrate_errors"] == 0 and dc2["getfile_requests"] == 0


async def test_rules_and_faults_answer_as_telegram(emu: EmulatorProcess, workdir: Path) -> None:
    data = os.urandom(3 * MiB)
    on_dc4 = emu.upload(data, dc=4)
    location = document_location(on_dc4["file_id"])

    async with make_client(emu.config, "bot", workdir) as client:
        await client.get_me()
        emu.reset()

        # FILE_MIGRATE_4 when a DC 4 file is asked of DC 2.
        with pytest.raises(errors.FileMigrate) as migrate:
            await client.invoke(
                raw.functions.upload.GetFile(location=location, offset=0, limit=MiB)
            )
        assert migrate.value.value == 4
        assert emu.dc_stats(2)["file_migrate_errors"] == 1

        media = await client.get_session(4, is_media=True)
        emu.reset()

        # LIMIT_INVALID / OFFSET_INVALID / crossing a 1 MiB boundary.
        for offset, limit, error in [
            (0, 1000, errors.LimitInvalid),
            (0, 3 * 4096, errors.LimitInvalid),
            (4096, 2 * MiB, errors.LimitInvalid),
            (1024, 4096, errors.OffsetInvalid),
            (MiB - 4096, 8192, errors.LimitInvalid),
        ]:
            with pytest.raises(error):
                await media.invoke(
                    raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)
                )
        # precise allows 1 KiB granularity but still never crosses a 1 MiB boundary.
        part = await media.invoke(
            raw.functions.upload.GetFile(location=location, offset=3072, limit=5120, precise=True)
        )
        assert part.bytes == data[3072 : 3072 + 5120]
        tail = await media.invoke(
            raw.functions.upload.GetFile(location=location, offset=2 * MiB, limit=MiB)
        )
        assert tail.bytes == data[2 * MiB :]
        past_end = await media.invoke(
            raw.functions.upload.GetFile(location=location, offset=3 * MiB, limit=MiB)
        )
        assert past_end.bytes == b""
        assert isinstance(tail.type, raw.types.storage.FileUnknown)

        # FLOOD_WAIT_X from a rule, exactly as many times as the rule says.
        emu.faults(flood_waits=[{"method": "upload.getFile", "dc": 4, "seconds": 7, "count": 1}])
        before = emu.dc_stats(4)["flood_waits"]
        with pytest.raises(errors.FloodWait) as flood:
            await media.invoke(
                raw.functions.upload.GetFile(location=location, offset=0, limit=MiB),
                sleep_threshold=0,
            )
        assert flood.value.value == 7
        assert emu.dc_stats(4)["flood_waits"] == before + 1
        again = await media.invoke(
            raw.functions.upload.GetFile(location=location, offset=0, limit=MiB)
        )
        assert again.bytes == data[:MiB]

        # FILE_REFERENCE_EXPIRED after the references rotate.
        emu.faults(rotate_file_references=True)
        with pytest.raises(errors.FileReferenceExpired):
            await media.invoke(raw.functions.upload.GetFile(location=location, offset=0, limit=MiB))
        assert emu.dc_stats(4)["file_reference_expired"] == 1

        # A key on DC 3 with no authorization: AUTH_KEY_UNREGISTERED, USER_MIGRATE_2 for a
        # bot login there, and single-use export bytes bound to their DC.
        bare = await client.get_session(3, export_authorization=False)
        with pytest.raises(errors.AuthKeyUnregistered):
            await bare.invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))
        with pytest.raises(errors.UserMigrate) as user_migrate:
            await bare.invoke(
                raw.functions.auth.ImportBotAuthorization(
                    flags=0,
                    api_id=emu.config["api_id"],
                    api_hash=emu.config["api_hash"],
                    bot_auth_token=emu.config["bot_token"],
                )
            )
        assert user_migrate.value.value == 2
        assert emu.dc_stats(3)["bot_signins"] == 0

        wrong_dc = await client.invoke(raw.functions.auth.ExportAuthorization(dc_id=5))
        with pytest.raises(errors.AuthBytesInvalid):
            await bare.invoke(
                raw.functions.auth.ImportAuthorization(id=wrong_dc.id, bytes=wrong_dc.bytes)
            )
        exported = await client.invoke(raw.functions.auth.ExportAuthorization(dc_id=3))
        imports = emu.dc_stats(3)["auth_imports"]
        await bare.invoke(
            raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes)
        )
        assert emu.dc_stats(3)["auth_imports"] == imports + 1
        with pytest.raises(errors.AuthBytesInvalid):
            await bare.invoke(
                raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes)
            )
        assert emu.dc_stats(3)["auth_imports"] == imports + 1
        users = await bare.invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))
        assert users[0].id == exported.id

        # Revoked authorizations answer AUTH_KEY_UNREGISTERED (401) on their next call.
        emu.faults(revoke_authorizations=[3])
        with pytest.raises(errors.AuthKeyUnregistered):
            await bare.invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))

        # A method the emulator does not implement: an rpc_error, counted per method.
        with pytest.raises(errors.BadRequest):
            await client.invoke(raw.functions.account.GetPassword())
        assert emu.stats()["unimplemented"].get("account.getPassword") == 1
        # The session still works afterwards.
        assert (await client.get_me()).is_bot


async def test_restarted_emulator_keeps_keys_and_authorizations(
    tmp_path: Path, workdir: Path
) -> None:
    emu = EmulatorProcess(state_dir=tmp_path / "state", log_path=tmp_path / "emu.log").start()
    try:
        data = os.urandom(2 * MiB + 5)
        uploaded = emu.upload(data, dc=2)
        async with make_client(emu.config, "bot", workdir) as client:
            assert (await client.get_me()).is_bot
        assert emu.dc_stats(2)["auth_keys_created"] == 1
        ports = emu.config["dcs"]
        emu.stop()

        emu.start()
        assert emu.config["dcs"] == ports, "DC ports are kept across restarts"
        async with make_client(emu.config, "bot", workdir) as client:
            assert (await client.get_me()).is_bot
            downloaded = await client.download_media(uploaded["file_id"], in_memory=True)
            assert sha(bytes(downloaded.getbuffer())) == sha(data)
        for dc in ("1", "2", "3", "4", "5"):
            counters = emu.stats()["dcs"][dc]
            assert counters["auth_keys_created"] == 0, dc
            assert counters["bot_signins"] == 0, dc
            assert counters["auth_imports"] == 0, dc
    finally:
        emu.stop()
