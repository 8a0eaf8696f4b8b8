"""The session rules, driven by decrypted client messages: `MTProtoCore.receive`.

Order of checks, as Telegram applies them: the salt (bad_server_salt), the msg_id's time
(bad_msg_notification 16-18), then per message: duplicates are dropped unanswered, seqnos
are checked (32-35), new_session_created goes out before the first answer of a session,
service messages are answered here and anything else becomes an `RpcCall`.

Before all that, where the message came from: a session the client moved to a new connection
gets its unacknowledged answers again, and one used from two connections at once costs its
auth key (AUTH_KEY_DUPLICATED, tgemu.mtproto.carriers).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyrogram.raw import types

from ..tl import constructor_of, read, read_tl_bytes, write
from . import codes
from .carriers import Arrival, arrive
from .constructors import (
    EITHER_PARITY,
    GZIP_PACKED,
    IGNORED,
    MSG_CONTAINER,
    NOT_CONTENT,
    SERVICE,
)
from .containers import InvalidContainer, parse_container
from .events import Event, KeyDuplicated, Resend, RpcCall
from .msg_ids import check_client_msg_id
from .outgoing import Send
from .results import rpc_error, rpc_result
from .salts import SaltSchedule
from .service import answer_service
from .session import SessionState
from .sessions import SessionTable, _random_unique_id

AUTH_KEY_DUPLICATED = rpc_error(406, "AUTH_KEY_DUPLICATED")


class Incoming(Protocol):
    """A decrypted client message (mtcrypto.Plain)."""

    @property
    def salt(self) -> int: ...
    @property
    def session_id(self) -> int: ...
    @property
    def msg_id(self) -> int: ...
    @property
    def seqno(self) -> int: ...
    @property
    def body(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Received:
    session: SessionState
    events: list[Event]


def _notify(obj: Any) -> Send:
    # About the client's own message: sent at once, not content-related.
    return Send(write(obj), content_related=False, is_response=True)


def _bad_msg(msg_id: int, seqno: int, code: int) -> Send:
    notification = types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seqno, error_code=code)
    return _notify(notification)


def _unpacked(body: bytes) -> bytes:
    """The body inside a gzip_packed one; the body itself if it is not packed or not valid."""
    if constructor_of(body) != GZIP_PACKED:
        return body
    try:
        return gzip.decompress(read_tl_bytes(body[4:]))
    except (OSError, EOFError, ValueError, IndexError):
        return body


class MTProtoCore:
    def __init__(
        self, salt_secret: bytes, new_unique_id: Callable[[], int] = _random_unique_id
    ) -> None:
        self.salts = SaltSchedule(salt_secret)
        self.sessions = SessionTable(new_unique_id)
        # Auth keys invalidated for concurrent use of one of their sessions: every call on
        # them is answered AUTH_KEY_DUPLICATED, whatever the session (a new one included).
        self.duplicated_keys: set[int] = set()

    def receive(self, key_id: int, message: Incoming, now: float, carrier: int) -> Received:
        """Apply the rules to one decrypted message that arrived on connection `carrier`."""
        session = self.sessions.get_or_create(key_id, message.session_id)
        events: list[Event] = []
        msg_id, seqno = message.msg_id, message.seqno
        if key_id in self.duplicated_keys:
            # Nothing left to keep apart: answers go where the client asks.
            session.carrier = carrier
        else:
            arrival = arrive(session, carrier, msg_id)
            if arrival is Arrival.MOVED:
                # What the client has not acknowledged may have been lost with the old
                # connection.
                events += [Resend(out) for out in session.unacked]
            elif arrival is Arrival.DUPLICATED:
                self.duplicated_keys.add(key_id)
                session.carrier = carrier
        if not self.salts.valid(key_id, message.salt, now):
            bad_salt = types.BadServerSalt(
                bad_msg_id=msg_id,
                bad_msg_seqno=seqno,
                error_code=codes.BAD_SERVER_SALT,
                new_server_salt=self.salts.current(key_id, now),
            )
            events.append(_notify(bad_salt))
        elif (error := check_client_msg_id(msg_id, now)) is not None:
            events.append(_bad_msg(msg_id, seqno, error))
        elif constructor_of(message.body) == MSG_CONTAINER:
            self._container(session, msg_id, seqno, message.body, now, events)
        else:
            self._message(session, msg_id, seqno, message.body, now, events)
        return Received(session, events)

    def _container(
        self,
        session: SessionState,
        msg_id: int,
        seqno: int,
        body: bytes,
        now: float,
        events: list[Event],
    ) -> None:
        if session.received.seen(msg_id):
            events.append(_bad_msg(msg_id, seqno, codes.CONTAINER_MSG_ID_REUSED))
            return
        try:
            inner = parse_container(msg_id, body)
        except InvalidContainer:
            events.append(_bad_msg(msg_id, seqno, codes.INVALID_CONTAINER))
            return
        if session.key_id not in self.duplicated_keys:
            error = session.received.accept(msg_id, seqno, content_related=False)
            if error is not None:
                events.append(_bad_msg(msg_id, seqno, error))
                return
        for message in inner:
            time_error = check_client_msg_id(message.msg_id, now)
            if time_error is not None:
                events.append(_bad_msg(message.msg_id, message.seqno, time_error))
                continue
            self._message(session, message.msg_id, message.seqno, message.body, now, events)

    def _message(
        self,
        session: SessionState,
        msg_id: int,
        seqno: int,
        body: bytes,
        now: float,
        events: list[Event],
    ) -> None:
        constructor = constructor_of(body)
        content = constructor not in NOT_CONTENT
        if constructor in EITHER_PARITY:
            content = seqno % 2 == 1
        if session.received.seen(msg_id):
            return  # a repeat of a message already handled; its answer is in `unacked`
        refused = session.key_id in self.duplicated_keys
        if not refused:
            # (On a duplicated key two clients numbered the session: seqnos mean nothing.)
            if session.received.too_old(msg_id):
                events.append(_bad_msg(msg_id, seqno, codes.MSG_TOO_OLD))
                return
            error = session.received.accept(msg_id, seqno, content)
            if error is not None:
                events.append(_bad_msg(msg_id, seqno, error))
                return
        if not session.created_sent:
            session.created_sent = True
            created = types.NewSessionCreated(
                first_msg_id=msg_id,
                unique_id=session.unique_id,
                server_salt=self.salts.current(session.key_id, now),
            )
            events.append(Send(write(created), content_related=True, is_response=False))
        plain = _unpacked(body)
        kind = constructor_of(plain)
        if kind in IGNORED:
            return
        if kind in SERVICE:
            try:
                obj = read(plain)
            except Exception:  # malformed: the API side reports it like any unparsable call
                pass
            else:
                events += answer_service(obj, msg_id, session, self.sessions, self.salts, now)
                return
        if refused:
            events.append(KeyDuplicated(rpc_result(msg_id, AUTH_KEY_DUPLICATED)))
        else:
            events.append(RpcCall(msg_id, body, content))
