"""One client TCP connection to one DC: the socket loops, shaping and crypto offload.

The read loop frames and decrypts packets and feeds them to the MTProto core, then acts on
what the core answers; the write loop numbers, encrypts and paces what is queued.  The rules
themselves live in tgemu.mtproto and the API in tgemu.rpc.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from . import mtcrypto
from .delivery import Delivery
from .handshake import Handshake, HandshakeFailed, NewKey
from .link import Line, serialise
from .mtproto.core import MTProtoCore
from .mtproto.events import CloseAfter, Event, KeyDuplicated, Resend, RpcCall
from .mtproto.msg_ids import server_msg_id
from .mtproto.outgoing import Outgoing, Send
from .mtproto.results import rpc_result
from .mtproto.session import SessionState
from .rpc.dispatch import Dispatcher, Held
from .store import AuthKey
from .transport import Codec, TransportDetector, TransportError, transport_error
from .world import World

log = logging.getLogger("tgemu.connection")

# Payloads above this size are encrypted on a worker thread so the loop keeps serving.
_THREAD_CRYPTO_MIN = 128 * 1024
_READ_SIZE = 256 * 1024
# Small messages queued together for one session go out in one container.
_BATCH_BODY_MAX = 16384
_BATCH_MAX = 16


@dataclass(frozen=True, slots=True)
class Shared:
    """What every connection of the emulator works with."""

    world: World
    core: MTProtoCore
    dispatcher: Dispatcher
    delivery: Delivery
    crypto_pool: Executor


# Each item is stamped when it is queued: its serialisation starts then (or when the line is
# free), so the time spent encrypting it overlaps its transfer as on a real server. A plain
# monotonic clock, not the loop's: updates are queued from the control API's threads too.
@dataclass(slots=True)
class _Queued:
    session: SessionState
    send: Send
    ready: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Resend:
    session: SessionState
    out: Outgoing
    ready: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Raw:
    payload: bytes
    close_after: bool = False
    ready: float = field(default_factory=time.monotonic)


_Item = _Queued | _Resend | _Raw


class Connection:
    def __init__(
        self,
        shared: Shared,
        dc: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.shared = shared
        self.world = shared.world
        self.dc = dc
        self.reader = reader
        self.writer = writer
        self.on_close = on_close
        self.codec: Codec | None = None
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        # This connection's line to the client (tgemu.link), for its bandwidth setting.
        self.line = Line()
        self.sent_bytes = 0
        self.closed = False
        self.handshake: Handshake | None = None
        # The auth keys of the sessions this connection carries, by key id.
        self.keys: dict[int, AuthKey] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.disconnect_timer: asyncio.TimerHandle | None = None
        self.carrier = shared.delivery.attach(self)

    # --- lifecycle ------------------------------------------------------------------------

    async def serve(self) -> None:
        stats = self.world.stats
        stats.bump(self.dc, "connections")
        stats.open_connections[self.dc] += 1
        writer_task = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        except (ConnectionError, TransportError, asyncio.IncompleteReadError) as exc:
            log.debug("connection on DC %s ends: %r", self.dc, exc)
        finally:
            self.close()
            writer_task.cancel()
            for task in list(self.tasks):
                task.cancel()
            stats.open_connections[self.dc] -= 1
            self.shared.delivery.detach(self.carrier)
            self.on_close(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.disconnect_timer is not None:
            self.disconnect_timer.cancel()
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _read_loop(self) -> None:
        detector = TransportDetector()
        while not self.closed:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                return
            if self.codec is None:
                codec = detector.feed(data)
                if codec is None:
                    continue
                self.codec = codec
                packets = codec.feed(b"")
            else:
                packets = self.codec.feed(data)
            if self.world.faults.hung(self.dc):
                # A hung DC still decodes the stream, so framing (and an obfuscated stream's
                # cipher) stays in step for when it recovers, but drops every packet unread.
                continue
            for packet in packets:
                await self._on_packet(packet)
                if self.closed:
                    return

    # --- incoming -------------------------------------------------------------------------

    async def _on_packet(self, packet: bytes) -> None:
        if len(packet) < 20:
            raise TransportError("packet too short")
        key_id = int.from_bytes(packet[:8], "little")
        if key_id == 0:
            await self._on_plain(packet)
        else:
            await self._on_encrypted(packet, key_id)

    def _refuse(self) -> None:
        # Telegram's answer to a broken key exchange or an unknown key: -404, then close.
        self.queue.put_nowait(_Raw(transport_error(404), close_after=True))

    async def _on_plain(self, packet: bytes) -> None:
        (length,) = struct.unpack_from("<I", packet, 16)
        body = packet[20 : 20 + length]
        if len(body) != length:
            raise TransportError("truncated unencrypted message")
        store = self.world.store
        if self.handshake is None:
            self.handshake = Handshake(
                dc_id=self.dc,
                rsa=self.world.rsa,
                key_exists=lambda key: mtcrypto.auth_key_id(key) in store.keys,
                on_key=self._on_new_key,
            )
        if self.handshake.state == "failed":
            # After a failed step every request answers -404 until a new connection.
            self._refuse()
            return
        try:
            answer = self.handshake.handle(body)
        except HandshakeFailed as exc:
            # auth_key, step 6: an incorrect query gets a -404 error; the client restarts.
            log.info("handshake failed on DC %s: %s", self.dc, exc)
            self.handshake.state = "failed"
            self._refuse()
            return
        await self._delay()
        msg_id = server_msg_id(time.time(), is_response=True)
        self.queue.put_nowait(_Raw(bytes(8) + struct.pack("<qI", msg_id, len(answer)) + answer))

    def _on_new_key(self, new: NewKey) -> None:
        now = time.time()
        key_id = mtcrypto.auth_key_id(new.auth_key)
        key = AuthKey(key_id, self.dc, new.auth_key, None, now, new.temp_expires_at)
        self.world.store.add_key(key)
        self.shared.core.salts.add_initial(key_id, new.server_salt, now)
        if new.temp_expires_at is None:
            self.world.stats.bump(self.dc, "auth_keys_created")

    async def _on_encrypted(self, packet: bytes, key_id: int) -> None:
        if self.codec is not None and "padded" in self.codec.name:
            # Padded intermediate appends 0-15 random bytes the frame does not delimit; the
            # encrypted part is 24 bytes of header plus whole AES blocks.
            packet = packet[: len(packet) - (len(packet) - 24) % 16]
        key = self.world.store.get_key(key_id)
        if key is None or key.dc != self.dc:
            self._refuse()
            return
        self.keys[key_id] = key
        try:
            plain = await self._offload(
                len(packet), mtcrypto.decrypt_client_packet, key.auth_key, packet
            )
        except mtcrypto.DecryptError as exc:
            log.info("dropping undecryptable packet on DC %s: %s", self.dc, exc)
            self.close()
            return
        received = self.shared.core.receive(key_id, plain, time.time(), self.carrier)
        for event in received.events:
            self._act(received.session, key, event)

    def _act(self, session: SessionState, key: AuthKey, event: Event) -> None:
        if isinstance(event, Send):
            if event.paced:
                self._spawn(self._send_paced(session, event))
            else:
                self.send(session, event)
        elif isinstance(event, Resend):
            self.queue.put_nowait(_Resend(session, event.out))
        elif isinstance(event, RpcCall):
            self._spawn(self._run(session, key, event))
        elif isinstance(event, CloseAfter):
            self._arm_disconnect(event.seconds)
        elif isinstance(event, KeyDuplicated):
            log.warning(
                "DC %s: auth key %016x used from two connections in one session: "
                "AUTH_KEY_DUPLICATED",
                self.dc,
                key.key_id,
            )
            self.world.stats.bump(self.dc, "auth_key_duplicated")
            self.world.stats.errors["AUTH_KEY_DUPLICATED"] += 1
            self._act(session, key, event.answer)

    def _arm_disconnect(self, delay: int) -> None:
        if self.disconnect_timer is not None:
            self.disconnect_timer.cancel()
        self.disconnect_timer = asyncio.get_running_loop().call_later(delay, self._ping_timeout)

    def _ping_timeout(self) -> None:
        # A hung DC does nothing at all, closing idle connections included.
        if not self.world.faults.hung(self.dc):
            self.close()

    async def _run(self, session: SessionState, key: AuthKey, call: RpcCall) -> None:
        result = await self.shared.dispatcher.run(call, self.dc, key, session)
        if isinstance(result, Held):
            await asyncio.sleep(result.seconds)
            result = result.body
        if result is not None:
            await self._send_paced(session, rpc_result(call.msg_id, result))

    # --- outgoing -------------------------------------------------------------------------

    async def _delay(self) -> None:
        latency = self.world.faults.dcs[self.dc].latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def _send_paced(self, session: SessionState, send: Send) -> None:
        """An answer: after the DC's latency, to whichever connection carries the session then."""
        await self._delay()
        self.shared.delivery.send_in_session(session, send)

    def send(self, session: SessionState, send: Send) -> None:
        if not self.closed:
            self.queue.put_nowait(_Queued(session, send))

    async def _offload(self, size: int, work: Callable[..., Any], *args: Any) -> Any:
        """Run crypto on a worker thread when the payload is large enough to stall the loop."""
        if size >= _THREAD_CRYPTO_MIN:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.shared.crypto_pool, work, *args)
        return work(*args)

    def _batch(self, first: _Queued) -> list[Send]:
        """`first` and the small messages of its session queued right behind it."""
        batch = [first.send]
        if len(first.send.body) >= _BATCH_BODY_MAX:
            return batch
        while len(batch) < _BATCH_MAX and not self.queue.empty():
            nxt = self.queue._queue[0]  # type: ignore[attr-defined]
            if not (
                isinstance(nxt, _Queued)
                and nxt.session is first.session
                and len(nxt.send.body) < _BATCH_BODY_MAX
            ):
                break
            self.queue.get_nowait()
            batch.append(nxt.send)
        return batch

    async def _write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            if self.world.faults.hung(self.dc):
                continue  # lost, never framed, so the stream is still in step afterwards
            if isinstance(item, _Raw):
                await self._write(item.payload, None, item.ready)
                if item.close_after:
                    await self.writer.drain()
                    self.close()
                    return
                continue
            session = item.session
            key = self.keys[session.key_id]
            now = time.time()
            out = item.out if isinstance(item, _Resend) else session.seal(self._batch(item), now)
            payload = await self._offload(
                len(out.body),
                mtcrypto.encrypt_server_message,
                key.auth_key,
                key.key_id.to_bytes(8, "little"),
                self.shared.core.salts.current(key.key_id, now),
                session.session_id,
                out.msg_id,
                out.seqno,
                out.body,
            )
            await self._write(payload, key.user_id, item.ready)

    async def _write(self, payload: bytes, user_id: int | None, ready: float) -> None:
        faults, dc = self.world.faults, self.dc
        # Written once wholly serialised (the latency was slept before it was queued), paced
        # by payload size (framing adds a few bytes): the frame is made only once the pacing
        # is over, so a DC that hangs meanwhile drops it before framing.
        # Replies before sign-in (handshake, no account yet) count against no cap.
        account = None if user_id is None else faults.account_line(user_id)
        done = serialise(
            ready,
            len(payload),
            self.line,
            faults.dcs[dc].bandwidth_bps,
            account,
            faults.account_bandwidth_bps,
        )
        await _wait(done - time.monotonic())
        # Read after the pacing: the faults may have changed while it waited.
        settings = faults.dcs[dc]
        if self.closed or settings.hang:
            return
        assert self.codec is not None
        frame = self.codec.frame(payload)
        if faults.should_drop(dc):
            self.close()
            return
        limit = settings.drop_after_bytes
        if limit is not None and self.sent_bytes + len(frame) >= limit:
            # Die mid-message, as a real connection does.
            self.writer.write(frame[: max(0, limit - self.sent_bytes)])
            self.sent_bytes = limit
            self.close()
            return
        self.sent_bytes += len(frame)
        self.writer.write(frame)
        await self.writer.drain()


async def _wait(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
