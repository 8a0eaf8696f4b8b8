"""Baseline "naive": what most Pyrogram-based bots do.

Every request looks the message up again and reads it with `client.stream_media(message,
offset=...)`, whose offset counts whole 1 MiB chunks.  Kurigram's default of one concurrent
transmission per client (`max_concurrent_transmissions=1`) is left as those bots leave it, so
one viewer's download holds the client's only transfer slot until it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .common import CHUNK, Media, bin_channel, make_app, make_client, media_of, serve

client = make_client("naive")


async def lookup(message_id: int) -> Media:
    return media_of(await client.get_messages(bin_channel(), message_id))


async def body(media: Media, first: int, last: int) -> AsyncIterator[bytes]:
    skip = first % CHUNK
    remaining = last - first + 1
    async for chunk in client.stream_media(media.message, offset=first // CHUNK):
        piece = bytes(chunk)[skip : skip + remaining]
        skip = 0
        remaining -= len(piece)
        yield piece
        if remaining <= 0:
            return


app = make_app(client, lookup, body)

if __name__ == "__main__":
    serve(app)
