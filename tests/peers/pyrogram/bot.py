"""A stock Pyrogram 2.0.x bot: signs in with a bot token, reads bin-channel messages and
downloads one's document. It is told only where the DCs are and the server's RSA key, the two
things a client needs to talk to another MTProto server; Pyrogram itself is used as published.

usage: python bot.py SETTINGS.json OUT_FILE   (prints one JSON line with what it saw)
Run with PYTHONPATH at the --target install of Pyrogram, never beside Kurigram's.
"""

import asyncio
import json
import sys

import pyrogram
from pyrogram import Client, raw
from pyrogram.crypto import rsa
from pyrogram.file_id import FileId
from pyrogram.session.internals import DataCenter


async def main(settings: dict, out: str) -> None:
    rsa.server_public_keys[int(settings["rsa_fingerprint"])] = rsa.PublicKey(
        int(settings["rsa_n"]), settings["rsa_e"]
    )
    dcs = {int(dc): (entry["host"], entry["port"]) for dc, entry in settings["dcs"].items()}
    # Pyrogram's address table (DataCenter) is where a client learns each DC's address.
    DataCenter.__new__ = staticmethod(lambda cls, dc_id, *rest: dcs[dc_id])
    app = Client(
        "peer",
        api_id=settings["api_id"],
        api_hash=settings["api_hash"],
        bot_token=settings["bot_token"],
        in_memory=True,
    )
    async with app:
        me = await app.get_me()
        messages = await app.get_messages(settings["bin_channel"], settings["message_ids"])
        wanted = next(m for m in messages if m.id == settings["download_id"])
        data = await app.download_media(wanted, in_memory=True)
        with open(out, "wb") as file:
            file.write(bytes(data.getbuffer()))
        # The document's thumbnail, as Pyrogram lists it and fetches it (thumb_size).
        thumbs = wanted.document.thumbs or []
        if thumbs:
            thumb = await app.download_media(thumbs[0].file_id, in_memory=True)
            with open(out + ".thumb", "wb") as file:
                file.write(bytes(thumb.getbuffer()))
        print(
            json.dumps(
                {
                    "version": pyrogram.__version__,
                    "layer": raw.all.layer,
                    "me": {"id": str(me.id), "bot": me.is_bot},
                    "messages": [{"id": m.id, "text": m.caption or m.text or ""} for m in messages],
                    "dc": FileId.decode(wanted.document.file_id).dc_id,
                    "size": data.getbuffer().nbytes,
                    "thumbs": [[t.width, t.height, t.file_size] for t in thumbs],
                }
            )
        )


if __name__ == "__main__":
    with open(sys.argv[1]) as file:
        asyncio.run(main(json.load(file), sys.argv[2]))
