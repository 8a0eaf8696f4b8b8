"""One client TCP connection to one DC: framing, decryption, dispatch and paced sending."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyrogram.raw import functions, types
from pyrogram.raw.core import FutureSalt, FutureSalts

from . import mtcrypto, tl
from . import session as mts
from .faults import TokenBucket
from .handshake import Handshake, HandshakeFailed, NewKey
from .layers import adapt as layers
from .rpc import REGISTRY, CallContext, RpcError
from .rpc.upload import UPLOAD_FILE
from .session import MTSession, Outgoing
from .store import AuthKey
from .transport import Codec, TransportDetector, TransportError, transport_error

if TYPE_CHECKING:
    from .server import Emulator

log = logging.getLogger("tgemu.connection")

MSGS_ACK = 0x62D6B459
_NOT_CONTENT = {MSGS_ACK, tl.MSG_CONTAINER}
# Only API queries must be content-related (core.telegram.org/mtproto/description); a
# client may mark these MTProto service messages either way (Kurigram sends pings as not
# content-related), so their seqno parity is not checked: ping, ping_delay_disconnect,
# http_wait, msgs_state_req, msg_resend_req, msgs_state_info, msgs_all_info,
# msg_detailed_info, msg_new_detailed_info, get_future_salts, rpc_drop_answer,
# destroy_session.
_EITHER_PARITY = {
    0x7ABE77EC,
    0xF3427B8C,
    0x9299359F,
    0xDA69FB52,
    0x7D861A08,
    0x04DEB57D,
    0x8CC0D131,
    0x276D3EC6,
    0x809DB6DF,
    0xB921BD04,
    0x58E4A740,
    0xE7512126,
}
_WRAPPERS = (
    functions.InvokeWithLayer,
    functions.InitConnection,
    functions.InvokeWithoutUpdates,
    functions.InvokeAfterMsg,
    functions.InvokeAfterMsgs,
)
# Payloads above this size are encrypted on a worker thread so the loop keeps serving.
_THREAD_CRYPTO_MIN = 128 * 1024
_GZIP_MIN = 256
_READ_SIZE = 256 * 1024


@dataclass(slots=True)
class _Send:
    session: MTSession
    body: bytes
    content_related: bool
    is_response: bool


@dataclass(slots=True)
class _Resend:
    session: MTSession
    out: Outgoing


@dataclass(slots=True)
class _Raw:
    payload: bytes
    close_after: bool = False


_Item = _Send | _Resend | _Raw


class Connection:
    def __init__(
        self, emu: Emulator, dc: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.emu = emu
        self.dc = dc
        self.reader = reader
        self.writer = writer
        self.codec: Codec | None = None
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.bucket = TokenBucket()
        self.sent_bytes = 0
        self.closed = False
        self.handshake: Handshake | None = None
        self.key: AuthKey | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.disconnect_timer: asyncio.TimerHandle | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def serve(self) -> None:
        stats = self.emu.stats
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
            self.emu.forget_connection(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.disconnect_timer is not None:
            self.disconnect_timer.cancel()
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def _spawn(self, coro: Any) -> None:
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
            if self.emu.faults.hung(self.dc):
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

    async def _on_plain(self, packet: bytes) -> None:
        (length,) = struct.unpack_from("<I", packet, 16)
        body = packet[20 : 20 + length]
        if len(body) != length:
            raise TransportError("truncated unencrypted message")
        if self.handshake is None:
            self.handshake = Handshake(
                dc_id=self.dc,
                rsa=self.emu.rsa,
                key_exists=lambda key: mtcrypto.auth_key_id(key) in self.emu.store.keys,
                on_key=self._on_new_key,
            )
        if self.handshake.state == "failed":
            # After a failed step every request answers -404 until a new connection.
            self.queue.put_nowait(_Raw(transport_error(404), close_after=True))
            return
        try:
            answer = self.handshake.handle(body)
        except HandshakeFailed as exc:
            # auth_key, step 6: an incorrect query gets a -404 error; the client restarts.
            log.info("handshake failed on DC %s: %s", self.dc, exc)
            self.handshake.state = "failed"
            self.queue.put_nowait(_Raw(transport_error(404), close_after=True))
            return
        await self._delay()
        msg_id = (int(time.time() * 2**32) & ~3) | 1
        self.queue.put_nowait(_Raw(bytes(8) + struct.pack("<qI", msg_id, len(answer)) + answer))

    def _on_new_key(self, new: NewKey) -> None:
        key_id = mtcrypto.auth_key_id(new.auth_key)
        key = AuthKey(key_id, self.dc, new.auth_key, None, time.time(), new.temp_expires_at)
        self.emu.store.add_key(key)
        self.emu.initial_salts[key_id] = (new.server_salt, time.time() + mtcrypto.SALT_PERIOD)
        if new.temp_expires_at is None:
            self.emu.stats.bump(self.dc, "auth_keys_created")

    async def _on_encrypted(self, packet: bytes, key_id: int) -> None:
        if self.codec is not None and "padded" in self.codec.name:
            # Padded intermediate appends 0-15 random bytes the frame does not delimit; the
            # encrypted part is 24 bytes of header plus whole AES blocks.
            packet = packet[: len(packet) - (len(packet) - 24) % 16]
        key = self.emu.store.get_key(key_id)
        if key is None or key.dc != self.dc:
            # Telegram's answer to an unknown auth key: transport error -404, then close.
            self.queue.put_nowait(_Raw(transport_error(404), close_after=True))
            return
        self.key = key
        try:
            if len(packet) >= _THREAD_CRYPTO_MIN:
                plain = await asyncio.get_running_loop().run_in_executor(
                    self.emu.crypto_pool, mtcrypto.decrypt_client_packet, key.auth_key, packet
                )
            else:
                plain = mtcrypto.decrypt_client_packet(key.auth_key, packet)
        except mtcrypto.DecryptError as exc:
            log.info("dropping undecryptable packet on DC %s: %s", self.dc, exc)
            self.close()
            return
        session = self.emu.session_for(key, plain.session_id, self.dc)
        if session.connection is not self:
            previous = session.connection
            session.connection = self
            if previous is not None or session.unacked:
                for out in list(session.unacked.values()):
                    self.queue.put_nowait(_Resend(session, out))
        if not self.emu.salt_valid(key, plain.salt):
            self._notify(
                session,
                types.BadServerSalt(
                    bad_msg_id=plain.msg_id,
                    bad_msg_seqno=plain.seqno,
                    error_code=mts.BAD_SERVER_SALT,
                    new_server_salt=self.emu.current_salt(key),
                ),
            )
            return
        error = mts.check_msg_id_time(plain.msg_id)
        if error is not None:
            self._notify(session, _bad_msg(plain.msg_id, plain.seqno, error))
            return
        if tl.constructor_of(plain.body) == tl.MSG_CONTAINER:
            self._on_container(session, plain.msg_id, plain.seqno, plain.body)
        else:
            self._on_message(session, plain.msg_id, plain.seqno, plain.body)

    def _on_container(self, session: MTSession, msg_id: int, seqno: int, body: bytes) -> None:
        if session.seen(msg_id):
            self._notify(session, _bad_msg(msg_id, seqno, mts.CONTAINER_MSG_ID_REUSED))
            return
        inner: list[tuple[int, int, bytes]] = []
        try:
            (count,) = struct.unpack_from("<i", body, 4)
            offset = 8
            for _ in range(count):
                inner_id, inner_seqno, length = struct.unpack_from("<qiI", body, offset)
                offset += 16
                inner_body = body[offset : offset + length]
                if len(inner_body) != length or length % 4:
                    raise ValueError("inner message overruns the container")
                offset += length
                inner.append((inner_id, inner_seqno, inner_body))
            if offset != len(body) or count > 1024:
                raise ValueError("container length mismatch")
            for inner_id, _, inner_body in inner:
                # Nested containers are forbidden, and every message must be older than
                # its container.
                if tl.constructor_of(inner_body) == tl.MSG_CONTAINER or inner_id >= msg_id:
                    raise ValueError("invalid nested message")
        except (struct.error, ValueError):
            self._notify(session, _bad_msg(msg_id, seqno, mts.INVALID_CONTAINER))
            return
        error = session.check_seqno(msg_id, seqno, content_related=False)
        if error is not None:
            self._notify(session, _bad_msg(msg_id, seqno, error))
            return
        for inner_id, inner_seqno, inner_body in inner:
            time_error = mts.check_msg_id_time(inner_id)
            if time_error is not None:
                self._notify(session, _bad_msg(inner_id, inner_seqno, time_error))
                continue
            self._on_message(session, inner_id, inner_seqno, inner_body)

    def _on_message(self, session: MTSession, msg_id: int, seqno: int, body: bytes) -> None:
        constructor = tl.constructor_of(body)
        content = constructor not in _NOT_CONTENT
        if constructor in _EITHER_PARITY:
            content = seqno % 2 == 1
        if session.seen(msg_id):
            return  # a repeat of a message already handled; its answer is in `unacked`
        if session.too_old(msg_id):
            self._notify(session, _bad_msg(msg_id, seqno, 20))
            return
        error = session.check_seqno(msg_id, seqno, content)
        if error is not None:
            self._notify(session, _bad_msg(msg_id, seqno, error))
            return
        if not session.created_sent:
            session.created_sent = True
            self.send(
                session,
                tl.write(
                    types.NewSessionCreated(
                        first_msg_id=msg_id,
                        unique_id=session.unique_id,
                        server_salt=self.emu.current_salt(session.key),
                    )
                ),
                content_related=True,
                is_response=False,
            )
        try:
            # API layers: read with the schema of the layer the client declared.
            obj = layers.read_request(body, self._client_layer(session))
        except Exception:
            self.emu.stats.unimplemented[f"#{constructor:08x}"] += 1
            if content:
                self._spawn(self._answer(session, msg_id, _rpc_error(400, "INPUT_METHOD_INVALID")))
            return
        self._dispatch(session, msg_id, obj)

    def _dispatch(self, session: MTSession, msg_id: int, obj: Any) -> None:
        if isinstance(obj, types.MsgsAck):
            session.ack(obj.msg_ids)
        elif isinstance(obj, functions.Ping):
            self._spawn(self._reply(session, types.Pong(msg_id=msg_id, ping_id=obj.ping_id)))
        elif isinstance(obj, functions.PingDelayDisconnect):
            self._arm_disconnect(obj.disconnect_delay)
            self._spawn(self._reply(session, types.Pong(msg_id=msg_id, ping_id=obj.ping_id)))
        elif isinstance(obj, functions.GetFutureSalts):
            self._spawn(self._reply(session, self._future_salts(session, msg_id, obj.num)))
        elif isinstance(obj, functions.DestroySession):
            self._spawn(self._reply(session, self.emu.destroy_session(session, obj.session_id)))
        elif isinstance(obj, functions.RpcDropAnswer):
            # Answers are sent as soon as they are ready, so there is never one to drop.
            self._spawn(self._answer(session, msg_id, tl.write(types.RpcAnswerUnknown())))
        elif isinstance(obj, types.MsgsStateReq):
            info = bytes(session.state_of(i) for i in obj.msg_ids)
            self._spawn(
                self._reply(session, types.MsgsStateInfo(req_msg_id=msg_id, info=info.decode()))
            )
        elif isinstance(obj, types.MsgResendReq):
            for wanted in obj.msg_ids:
                out = session.unacked.get(wanted)
                if out is not None:
                    self.queue.put_nowait(_Resend(session, out))
        elif tl.is_function(obj):
            self._spawn(self._run_rpc(session, msg_id, obj))
        # Anything else (e.g. msgs_state_info, http_wait on TCP) needs no answer.

    def _arm_disconnect(self, delay: int) -> None:
        if self.disconnect_timer is not None:
            self.disconnect_timer.cancel()
        # ping_delay_disconnect: close if no further ping arrives within `delay` seconds.
        self.disconnect_timer = asyncio.get_running_loop().call_later(
            max(1, min(delay, 3600)), self._ping_timeout
        )

    def _ping_timeout(self) -> None:
        # A hung DC does nothing at all, closing idle connections included.
        if not self.emu.faults.hung(self.dc):
            self.close()

    def _future_salts(self, session: MTSession, msg_id: int, num: int) -> FutureSalts:
        now = int(time.time())
        window = now // mtcrypto.SALT_PERIOD
        salts = []
        for index in range(max(1, min(num, 64))):
            start = (window + index) * mtcrypto.SALT_PERIOD
            salt = mtcrypto.salt_for(self.emu.salt_secret, session.key.key_id, window + index)
            salts.append(FutureSalt(start, start + 2 * mtcrypto.SALT_PERIOD, salt))
        return FutureSalts(msg_id, now, salts)

    async def _run_rpc(self, session: MTSession, msg_id: int, query: Any) -> None:
        without_updates = False
        while isinstance(query, _WRAPPERS):
            if isinstance(query, functions.InvokeWithLayer):
                session.layer = query.layer
            elif isinstance(query, functions.InvokeWithoutUpdates):
                without_updates = True
            query = query.query
        name = tl.method_name(query)
        emu = self.emu
        emu.stats.methods[name] += 1
        assert self.key is not None
        ctx = CallContext(emu, self.dc, self.key, session, self, msg_id)
        try:
            caller = self._caller_id(query)
            flood = emu.faults.flood_wait_for(name, self.dc, caller)
            if flood is not None:
                emu.stats.bump(self.dc, "flood_waits")
                raise RpcError(420, f"FLOOD_WAIT_{flood}")
            injected = emu.faults.rpc_error_for(name, self.dc, caller)
            if injected is not None:
                raise RpcError(*injected)
            registered = REGISTRY.get(type(query))
            if registered is None:
                emu.stats.unimplemented[name] += 1
                raise RpcError(400, "INPUT_METHOD_INVALID")
            if registered.needs_auth:
                ctx.require_user()
                if not without_updates:
                    session.wants_updates = True
            result = await registered.handler(ctx, query)
            # API layers: the answer is written in the layer the client declared.
            body = layers.write_answer(result, self._client_layer(session))
        except RpcError as exc:
            emu.stats.errors[exc.message] += 1
            body = _rpc_error(exc.code, exc.message)
        except Exception:
            log.exception("method %s failed", name)
            body = _rpc_error(500, "INTERNAL")
        await self._answer(session, msg_id, body)

    def _caller_id(self, query: Any) -> int | None:
        """The account a call is made as, for fault rules limited to one account.

        That is the user the auth key is authorized as, except for the calls that authorize
        a key: a bot login is made as the bot its token names, an import as the user whose
        authorization it imports.
        """
        if isinstance(query, functions.auth.ImportBotAuthorization):
            bot = self.emu.bot_by_token(query.bot_auth_token)
            return bot.id if bot is not None else None
        if isinstance(query, functions.auth.ImportAuthorization):
            return int(query.id)
        assert self.key is not None
        user = self.emu.store.user_of(self.key)
        return user.id if user is not None else None

    def _client_layer(self, session: MTSession) -> int | None:
        # API layers: Telegram saves the layer of invokeWithLayer(initConnection) with the
        # auth key (core.telegram.org/api/invoking), so a new session of a key inherits it.
        if session.layer is None:
            for other in self.emu.sessions.values():
                if other.key is session.key and other.layer is not None:
                    return other.layer
        return session.layer

    # --- outgoing -------------------------------------------------------------------------

    async def _delay(self) -> None:
        latency = self.emu.faults.dcs[self.dc].latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def _reply(self, session: MTSession, obj: Any) -> None:
        # pong, future_salts, msgs_state_info and destroy_session_* need no acknowledgment
        # (service_messages), so they go out as not content-related.
        await self._delay()
        self.emu.send_in_session(session, tl.write(obj), content_related=False, is_response=True)

    async def _answer(self, session: MTSession, req_msg_id: int, result: bytes) -> None:
        """Send an rpc_result after the DC's latency; large non-file results are gzipped."""
        if len(result) >= _GZIP_MIN and tl.constructor_of(result) != UPLOAD_FILE:
            packed = tl.gzip_packed(result)
            if len(packed) < len(result):
                result = packed
        body = struct.pack("<Iq", tl.RPC_RESULT, req_msg_id) + result
        await self._delay()
        self.emu.send_in_session(session, body, content_related=True, is_response=True)

    def _notify(self, session: MTSession, obj: Any) -> None:
        self.send(session, tl.write(obj), content_related=False, is_response=True)

    def send(
        self, session: MTSession, body: bytes, content_related: bool, is_response: bool
    ) -> None:
        if not self.closed:
            if content_related and not is_response:
                # API layers: pushed updates go out in the layer the client declared.
                body = layers.adapt_pushed(body, self._client_layer(session))
            self.queue.put_nowait(_Send(session, body, content_related, is_response))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self.queue.get()
            if self.emu.faults.hung(self.dc):
                continue  # lost, never framed, so the stream is still in step afterwards
            if isinstance(item, _Raw):
                await self._write(item.payload, None)
                if item.close_after:
                    await self.writer.drain()
                    self.close()
                    return
                continue
            session = item.session
            key = session.key
            if isinstance(item, _Resend):
                out = item.out
            else:
                batch = [item]
                if len(item.body) < 16384:
                    while len(batch) < 16 and not self.queue.empty():
                        nxt = self.queue._queue[0]  # type: ignore[attr-defined]
                        if not (
                            isinstance(nxt, _Send)
                            and nxt.session is session
                            and len(nxt.body) < 16384
                        ):
                            break
                        batch.append(self.queue.get_nowait())  # type: ignore[arg-type]
                out = self._outgoing(session, batch)
            payload_args = (
                key.auth_key,
                key.key_id.to_bytes(8, "little"),
                self.emu.current_salt(key),
                session.session_id,
                out.msg_id,
                out.seqno,
                out.body,
            )
            if len(out.body) >= _THREAD_CRYPTO_MIN:
                payload = await loop.run_in_executor(
                    self.emu.crypto_pool, mtcrypto.encrypt_server_message, *payload_args
                )
            else:
                payload = mtcrypto.encrypt_server_message(*payload_args)
            await self._write(payload, key.user_id)

    def _outgoing(self, session: MTSession, batch: list[_Send]) -> Outgoing:
        messages = []
        for send in batch:
            msg_id = session.next_msg_id(send.is_response)
            seqno = session.next_seqno(send.content_related)
            out = Outgoing(msg_id, seqno, send.body)
            if send.content_related:
                session.remember_unacked(out)
            messages.append(out)
        if len(messages) == 1:
            return messages[0]
        parts = [struct.pack("<Ii", tl.MSG_CONTAINER, len(messages))]
        for out in messages:
            parts.append(struct.pack("<qiI", out.msg_id, out.seqno, len(out.body)))
            parts.append(out.body)
        return Outgoing(session.next_msg_id(False), session.next_seqno(False), b"".join(parts))

    def _frame(self, payload: bytes) -> bytes:
        assert self.codec is not None
        return self.codec.frame(payload)

    async def _write(self, payload: bytes, user_id: int | None) -> None:
        emu, dc = self.emu, self.dc
        # Paced by payload size (framing adds a few bytes): the frame is made only once the
        # pacing is over, so a DC that hangs meanwhile drops it before framing.
        await self.bucket.take(len(payload), emu.faults.dcs[dc].bandwidth_bps)
        if user_id is not None and emu.faults.account_bandwidth_bps is not None:
            await emu.faults.account_bucket(user_id).take(
                len(payload), emu.faults.account_bandwidth_bps
            )
        # Read after the pacing: the faults may have changed while it waited.
        faults = emu.faults.dcs[dc]
        if self.closed or faults.hang:
            return
        frame = self._frame(payload)
        if emu.faults.should_drop(dc):
            self.close()
            return
        limit = faults.drop_after_bytes
        if limit is not None and self.sent_bytes + len(frame) >= limit:
            # Die mid-message, as a real connection does.
            self.writer.write(frame[: max(0, limit - self.sent_bytes)])
            self.sent_bytes = limit
            self.close()
            return
        self.sent_bytes += len(frame)
        self.writer.write(frame)
        await self.writer.drain()


def _bad_msg(msg_id: int, seqno: int, code: int) -> types.BadMsgNotification:
    return types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=code)


def _rpc_error(code: int, message: str) -> bytes:
    return tl.write(types.RpcError(error_code=code, error_message=message))
