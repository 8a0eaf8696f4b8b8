"""One encrypted MTProto session over one connection (core.telegram.org/mtproto/description).

The client's side of the session rules, every one overridable per message so that tests can
break it: msg_ids, seqnos (content-related or not), the server salt, the session_id, padding
and containers.  What arrives is decrypted, checked and unwrapped, and kept for inspection.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyrogram.raw.core import Int, Long, TLObject

from .connection import WireConnection
from .messages import (
    MSG_CONTAINER,
    AuthKey,
    Message,
    MsgIdClock,
    answers,
    constructor_of,
    decrypt_message,
    encrypt_message,
    serialize,
    unwrap,
)


@dataclass
class Packet:
    """One decrypted server payload: its header and the messages it carried."""

    salt: int
    session_id: int
    msg_id: int
    seqno: int
    body: bytes
    messages: list[Message]
    received_at: float

    @property
    def is_container(self) -> bool:
        return constructor_of(self.body) == MSG_CONTAINER


@dataclass
class Outgoing:
    """A message to put in a container: body, and header fields left None are generated."""

    body: TLObject | bytes
    content_related: bool = True
    msg_id: int | None = None
    seqno: int | None = None


@dataclass
class Session:
    """One MTProto session over one connection; every header field can be overridden."""

    connection: WireConnection
    key: AuthKey
    salt: int = 0
    session_id: int = field(default_factory=lambda: secrets.randbits(63))
    clock: MsgIdClock = field(default_factory=MsgIdClock)
    content_sent: int = 0
    # Server packets for any of these session_ids are accepted (tests multiplexing sessions).
    session_ids: set[int] = field(default_factory=set)
    packets: list[Packet] = field(default_factory=list)
    backlog: list[Message] = field(default_factory=list)
    # (msg_id, seqno) of the last message sent.
    last_sent: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.salt == 0:
            self.salt = self.key.server_salt
        self.session_ids.add(self.session_id)

    def next_msg_id(self) -> int:
        return self.clock.next()

    def next_seqno(self, content_related: bool) -> int:
        """Twice the content-related messages sent before, plus one for a content-related one."""
        if content_related:
            self.content_sent += 1
            return self.content_sent * 2 - 1
        return self.content_sent * 2

    async def send(
        self,
        body: TLObject | bytes,
        *,
        content_related: bool = True,
        msg_id: int | None = None,
        seqno: int | None = None,
        salt: int | None = None,
        session_id: int | None = None,
        padding: bytes | None = None,
    ) -> int:
        """Encrypt and send one message; returns its msg_id."""
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        seqno = self.next_seqno(content_related) if seqno is None else seqno
        self.last_sent = (msg_id, seqno)
        await self.connection.send(
            encrypt_message(
                self.key,
                serialize(body),
                salt=self.salt if salt is None else salt,
                session_id=self.session_id if session_id is None else session_id,
                msg_id=msg_id,
                seqno=seqno,
                padding=padding,
            )
        )
        return msg_id

    def container_body(self, messages: Sequence[Outgoing]) -> tuple[bytes, list[int]]:
        """A msg_container body; inner messages get msg_ids and seqnos where not given."""
        parts = [Int(MSG_CONTAINER, False) + Int(len(messages))]
        ids = []
        for message in messages:
            body = serialize(message.body)
            msg_id = self.next_msg_id() if message.msg_id is None else message.msg_id
            seqno = (
                self.next_seqno(message.content_related) if message.seqno is None else message.seqno
            )
            parts.append(Long(msg_id) + Int(seqno) + Int(len(body)) + body)
            ids.append(msg_id)
        return b"".join(parts), ids

    async def send_container(
        self, messages: Sequence[Outgoing], *, msg_id: int | None = None, seqno: int | None = None
    ) -> tuple[int, list[int]]:
        """Send a container (not content-related); its msg_id and the inner msg_ids."""
        body, ids = self.container_body(messages)
        container_id = await self.send(body, content_related=False, msg_id=msg_id, seqno=seqno)
        return container_id, ids

    async def receive(self, within: float = 5.0) -> list[Message]:
        """Decrypt the next server payload; the messages it carries (also kept in backlog)."""
        payload = await self.connection.recv(within)
        plain = decrypt_message(self.key, payload)
        assert plain.session_id in self.session_ids, "a message for another session"
        messages = unwrap(plain.msg_id, plain.seqno, plain.body)
        self.packets.append(
            Packet(
                plain.salt,
                plain.session_id,
                plain.msg_id,
                plain.seqno,
                plain.body,
                messages,
                time.monotonic(),
            )
        )
        self.backlog += messages
        return messages

    async def wait_for(self, match: Callable[[Message], bool], within: float = 5.0) -> Message:
        """The first received message matching `match` (taken out of the backlog)."""
        async with asyncio.timeout(within):
            while True:
                for index, message in enumerate(self.backlog):
                    if match(message):
                        return self.backlog.pop(index)
                await self.receive(within)

    async def answer(self, msg_id: int, within: float = 5.0) -> Any:
        """The server's answer or notice about client message `msg_id`."""
        message = await self.wait_for(lambda m: answers(m.obj, msg_id), within)
        return message.obj

    async def call(self, query: TLObject | bytes, within: float = 5.0) -> Any:
        """Send a content-related message and return what answers it."""
        return await self.answer(await self.send(query), within)

    def received(self) -> list[Message]:
        """Every message received so far, in arrival order."""
        return [message for packet in self.packets for message in packet.messages]
