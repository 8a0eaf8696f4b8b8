"""Answers to the service messages a session handles itself.

See core.telegram.org/mtproto/service_messages. Each
answer is not content-related (service_messages need no acknowledgment) and paced like
an RPC answer; rpc_drop_answer's is an rpc_result, so it is content-related.
"""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types
from pyrogram.raw.core import FutureSalt, FutureSalts

from ..tl import write
from .events import CloseAfter, Event, Resend
from .outgoing import Send
from .results import rpc_result
from .salts import SaltSchedule
from .session import SessionState
from .sessions import SessionTable

# ping_delay_disconnect's delay is clamped to this range of seconds.
MIN_DISCONNECT_DELAY = 1
MAX_DISCONNECT_DELAY = 3600


def _reply(obj: Any) -> Send:
    return Send(write(obj), content_related=False, is_response=True, paced=True)


def answer_service(
    obj: Any,
    msg_id: int,
    session: SessionState,
    sessions: SessionTable,
    salts: SaltSchedule,
    now: float,
) -> list[Event]:
    """What to do for one parsed service message `obj` that arrived as `msg_id`."""
    if isinstance(obj, types.MsgsAck):
        session.unacked.ack(obj.msg_ids)
        return []
    if isinstance(obj, functions.Ping):
        return [_reply(types.Pong(msg_id=msg_id, ping_id=obj.ping_id))]
    if isinstance(obj, functions.PingDelayDisconnect):
        delay = max(MIN_DISCONNECT_DELAY, min(obj.disconnect_delay, MAX_DISCONNECT_DELAY))
        return [CloseAfter(delay), _reply(types.Pong(msg_id=msg_id, ping_id=obj.ping_id))]
    if isinstance(obj, functions.GetFutureSalts):
        future = [
            FutureSalt(s.valid_since, s.valid_until, s.salt)
            for s in salts.future(session.key_id, now, obj.num)
        ]
        return [_reply(FutureSalts(msg_id, int(now), future))]
    if isinstance(obj, functions.DestroySession):
        destroyed = sessions.destroy(session, obj.session_id)
        answer = types.DestroySessionOk if destroyed else types.DestroySessionNone
        return [_reply(answer(session_id=obj.session_id))]
    if isinstance(obj, functions.RpcDropAnswer):
        # Answers are sent as soon as they are ready, so there is never one to drop.
        return [rpc_result(msg_id, write(types.RpcAnswerUnknown()))]
    if isinstance(obj, types.MsgsStateReq):
        info = bytes(session.received.state_of(i) for i in obj.msg_ids)
        return [_reply(types.MsgsStateInfo(req_msg_id=msg_id, info=info.decode()))]
    if isinstance(obj, types.MsgResendReq):
        return [Resend(out) for wanted in obj.msg_ids if (out := session.unacked.get(wanted))]
    return []
