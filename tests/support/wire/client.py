"""What the raw tests call at the RPC level: a first request, and a key on its own connection."""

from __future__ import annotations

from pyrogram.raw import functions
from pyrogram.raw.all import layer
from pyrogram.raw.core import TLObject

from .connection import WireConnection
from .handshake import KeyExchange, RsaScheme, ServerKey
from .messages import AuthKey


def with_layer(query: TLObject, api_id: int) -> TLObject:
    """invokeWithLayer(initConnection(...query)) in Kurigram's layer, as a client's first request.

    The layer is the one Kurigram's TL objects parse, so answers are read in the layer asked for.
    """
    return functions.InvokeWithLayer(
        layer=layer,
        query=functions.InitConnection(
            api_id=api_id,
            device_model="wire",
            system_version="1.0",
            app_version="1.0",
            system_lang_code="en",
            lang_pack="",
            lang_code="en",
            query=query,
        ),
    )


async def create_auth_key(
    address: tuple[str, int],
    server_key: ServerKey,
    dc_id: int,
    *,
    kind: str = "intermediate",
    scheme: RsaScheme = "rsa_pad",
) -> AuthKey:
    """A new auth key on its own connection."""
    connection = await WireConnection.open(address, kind, dc_id)
    try:
        return await KeyExchange(connection, server_key, dc_id, scheme=scheme).run()
    finally:
        await connection.close()
