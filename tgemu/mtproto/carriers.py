"""Which connection carries a session, and when two carry it at once (AUTH_KEY_DUPLICATED).

Sources followed:
- core.telegram.org/api/errors (errors.json) lists 406 AUTH_KEY_DUPLICATED: the server saw the
  session used concurrently from several connections and invalidated it for security.
- What clients then experience, as their libraries document it: Telethon's
  AuthKeyDuplicatedError says the auth key can no longer be used, Pyrogram's (Kurigram's)
  AuthKeyDuplicated that the session must be deleted and the bot or user log in again, and
  TDLib's maintainer (tdlib/td#701) that stopping one of the two copies does not bring the
  other back: it has to log in again. So the whole key is refused from then on, on every
  session, old or new.
- core.telegram.org/mtproto/description: a session belongs to the client, not to one
  connection; a client may reach it through a new connection at any time.

So moving on is not duplication. Kurigram reconnects with the same session_id after a network
drop (Telethon starts a new session instead), and a client whose network changed does so while
the server may still hold the old, half-open connection, so a session may move to a new
connection even from one that is still open. What one client moving on never does is go
back: the connection it left carrying the session again, while the new one still does, is two
clients taking turns with one session. Such a message is told from a late one by its msg_id:
one the client sent before it moved is older than the message that moved the session (msg_ids
grow with the client's clock).
"""

from __future__ import annotations

from enum import Enum

from .session import SessionState


class Arrival(Enum):
    SAME = "same"  # on the connection that carries the session
    MOVED = "moved"  # the session moves to this connection (first use, or a reconnect)
    LATE = "late"  # on a connection the client has left, sent before it moved: no move back
    DUPLICATED = "duplicated"  # on a connection the client left, after it moved: two clients


def arrive(session: SessionState, carrier: int, msg_id: int) -> Arrival:
    """Classify a message of `session` (msg_id `msg_id`) that came on connection `carrier`,
    and record the move when it is one."""
    if session.carrier == carrier:
        return Arrival.SAME
    if carrier in session.left and session.carrier is not None:
        return Arrival.LATE if msg_id < session.moved_by else Arrival.DUPLICATED
    if session.carrier is not None:
        session.left.add(session.carrier)
    session.left.discard(carrier)
    session.carrier = carrier
    session.moved_by = msg_id
    return Arrival.MOVED


def connection_gone(session: SessionState, carrier: int) -> None:
    """The connection `carrier` closed: it carries the session no more, now or later."""
    if session.carrier == carrier:
        session.carrier = None
    session.left.discard(carrier)
