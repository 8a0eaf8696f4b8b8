"""Chats, messages and updates: private chats between users and bots, and the bin channel.

Telegram numbers a user's private-chat messages in one sequence per account (its "box") and
a channel's messages in one sequence per channel; every change to a box moves its pts by one,
and updates.getDifference / getChannelDifference replay the changes after a given pts.  The
emulator keeps exactly that model, persisted, so a bot that was offline misses nothing.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyrogram.raw import types

from . import tl
from .store import Store, StoredFile, User
from .views import user_tl

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY, access_hash INTEGER NOT NULL, title TEXT NOT NULL,
    date INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS boxes (box TEXT PRIMARY KEY, last_id INTEGER NOT NULL,
    pts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    box TEXT NOT NULL, id INTEGER NOT NULL, peer TEXT NOT NULL, from_id INTEGER,
    out INTEGER NOT NULL, date INTEGER NOT NULL, text TEXT NOT NULL, entities BLOB,
    file_id INTEGER, reply_to INTEGER, reply_markup BLOB, fwd_json TEXT, edit_date INTEGER,
    PRIMARY KEY (box, id)
);
CREATE TABLE IF NOT EXISTS update_log (
    box TEXT NOT NULL, pts INTEGER NOT NULL, kind TEXT NOT NULL, message_id INTEGER NOT NULL,
    PRIMARY KEY (box, pts)
);
CREATE TABLE IF NOT EXISTS channel_removed (
    channel_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (channel_id, user_id)
);
"""

BIN_CHANNEL_ID = 1_987_654_321
_URL = re.compile(r"https?://[^\s<>\"']+")


def user_box(user_id: int) -> str:
    return f"u:{user_id}"


def channel_box(channel_id: int) -> str:
    return f"c:{channel_id}"


def bot_api_channel_id(channel_id: int) -> int:
    return -1_000_000_000_000 - channel_id


@dataclass(slots=True)
class Channel:
    id: int
    access_hash: int
    title: str
    date: int


@dataclass(slots=True)
class StoredMessage:
    box: str
    id: int
    peer: str  # "u:<user id>" or "c:<channel id>": the chat, as seen by the box owner
    from_id: int | None
    out: bool
    date: int
    text: str
    entities: bytes | None = None
    file_id: int | None = None
    reply_to: int | None = None
    reply_markup: bytes | None = None
    fwd_json: str | None = None
    edit_date: int | None = None

    @property
    def peer_kind(self) -> str:
        return self.peer[0]

    @property
    def peer_id(self) -> int:
        return int(self.peer[2:])


@dataclass(slots=True)
class Change:
    """One entry of a box's update log: what moved its pts."""

    pts: int
    kind: str  # "new", "edit" or "delete"
    message_id: int
    message: StoredMessage | None  # None once the message has been deleted


class Messaging:
    def __init__(self, store: Store, bots: list[User], deliver: Callable[[int, Any], None]) -> None:
        """`deliver(user_id, updates)` hands an Updates object to that account's clients."""
        self.store = store
        self.bots = bots
        self.deliver = deliver
        self.store.db.executescript(_SCHEMA)
        self.channels: dict[int, Channel] = {
            row[0]: Channel(*row)
            for row in self.store.query("SELECT id, access_hash, title, date FROM channels")
        }
        self.bin_channel = self._ensure_channel(BIN_CHANNEL_ID, "tgstream bin")
        # Every account is an admin of every channel except the (channel, user) pairs here.
        self.removed: set[tuple[int, int]] = {
            (row[0], row[1])
            for row in self.store.query("SELECT channel_id, user_id FROM channel_removed")
        }

    # --- channels -------------------------------------------------------------------------

    def _ensure_channel(self, channel_id: int, title: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            channel = Channel(channel_id, secrets.randbits(63), title, int(time.time()))
            self.store.db.execute(
                "INSERT INTO channels (id, access_hash, title, date) VALUES (?, ?, ?, ?)",
                (channel.id, channel.access_hash, channel.title, channel.date),
            )
            self.channels[channel_id] = channel
        return channel

    def is_member(self, channel_id: int, user_id: int) -> bool:
        return (channel_id, user_id) not in self.removed

    def set_member(self, channel_id: int, user_id: int, member: bool) -> None:
        """Remove an account from a channel, or make it an admin there again."""
        if member:
            self.removed.discard((channel_id, user_id))
            self.store.db.execute(
                "DELETE FROM channel_removed WHERE channel_id = ? AND user_id = ?",
                (channel_id, user_id),
            )
        else:
            self.removed.add((channel_id, user_id))
            self.store.db.execute(
                "INSERT OR IGNORE INTO channel_removed (channel_id, user_id) VALUES (?, ?)",
                (channel_id, user_id),
            )

    def channel_tl(self, channel: Channel) -> types.Channel:
        # Every member administers the channel: it may post and edit.
        return types.Channel(
            id=channel.id,
            title=channel.title,
            photo=types.ChatPhotoEmpty(),
            date=channel.date,
            broadcast=True,
            access_hash=channel.access_hash,
            admin_rights=types.ChatAdminRights(
                post_messages=True, edit_messages=True, delete_messages=True, other=True
            ),
        )

    # --- boxes and pts --------------------------------------------------------------------

    def _box_state(self, box: str) -> tuple[int, int]:
        row = self.store.db.execute(
            "SELECT last_id, pts FROM boxes WHERE box = ?", (box,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def pts(self, box: str) -> int:
        return self._box_state(box)[1]

    def _next_id(self, box: str) -> int:
        last_id, pts = self._box_state(box)
        self.store.db.execute(
            "INSERT OR REPLACE INTO boxes (box, last_id, pts) VALUES (?, ?, ?)",
            (box, last_id + 1, pts),
        )
        return last_id + 1

    def _log(self, box: str, kind: str, message_id: int) -> int:
        last_id, pts = self._box_state(box)
        pts += 1
        self.store.db.execute(
            "INSERT OR REPLACE INTO boxes (box, last_id, pts) VALUES (?, ?, ?)",
            (box, last_id, pts),
        )
        self.store.db.execute(
            "INSERT INTO update_log (box, pts, kind, message_id) VALUES (?, ?, ?, ?)",
            (box, pts, kind, message_id),
        )
        return pts

    # --- messages -------------------------------------------------------------------------

    def _save(self, msg: StoredMessage) -> None:
        self.store.db.execute(
            "INSERT OR REPLACE INTO messages (box, id, peer, from_id, out, date, text, entities, "
            "file_id, reply_to, reply_markup, fwd_json, edit_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg.box,
                msg.id,
                msg.peer,
                msg.from_id,
                int(msg.out),
                msg.date,
                msg.text,
                msg.entities,
                msg.file_id,
                msg.reply_to,
                msg.reply_markup,
                msg.fwd_json,
                msg.edit_date,
            ),
        )

    def get(self, box: str, message_id: int) -> StoredMessage | None:
        row = self.store.db.execute(
            "SELECT box, id, peer, from_id, out, date, text, entities, file_id, reply_to, "
            "reply_markup, fwd_json, edit_date FROM messages WHERE box = ? AND id = ?",
            (box, message_id),
        ).fetchone()
        if row is None:
            return None
        return StoredMessage(
            row[0],
            row[1],
            row[2],
            row[3],
            bool(row[4]),
            row[5],
            row[6],
            _blob(row[7]),
            row[8],
            row[9],
            _blob(row[10]),
            row[11],
            row[12],
        )

    def new_message(self, msg: StoredMessage, announce: bool = True) -> int:
        """Store a new message, move its box's pts and push the update to the box's owner."""
        self._save(msg)
        pts = self._log(msg.box, "new", msg.id)
        if announce:
            self.push(msg, pts, edited=False)
        return pts

    def edit_message(self, msg: StoredMessage) -> int:
        msg.edit_date = int(time.time())
        self._save(msg)
        return self._log(msg.box, "edit", msg.id)

    def delete_message(self, msg: StoredMessage) -> int:
        """Delete a message for everyone, as an admin does; tell the members."""
        self.store.db.execute("DELETE FROM messages WHERE box = ? AND id = ?", (msg.box, msg.id))
        pts = self._log(msg.box, "delete", msg.id)
        if msg.peer_kind == "c":
            channel = self.channels[msg.peer_id]
            update = types.UpdateDeleteChannelMessages(
                channel_id=channel.id, messages=[msg.id], pts=pts, pts_count=1
            )
            updates = types.Updates(
                updates=[update],
                users=[],
                chats=[self.channel_tl(channel)],
                date=int(time.time()),
                seq=0,
            )
            for user_id in self.channel_audience(channel.id, sender=None):
                self.deliver(user_id, updates)
        return pts

    def add(
        self,
        box: str,
        peer: str,
        from_id: int | None,
        out: bool,
        text: str,
        file: StoredFile | None = None,
        entities: bytes | None = None,
        reply_to: int | None = None,
        reply_markup: bytes | None = None,
        fwd: dict[str, Any] | None = None,
    ) -> StoredMessage:
        return StoredMessage(
            box=box,
            id=self._next_id(box),
            peer=peer,
            from_id=from_id,
            out=out,
            date=int(time.time()),
            text=text,
            entities=entities,
            file_id=file.id if file else None,
            reply_to=reply_to,
            reply_markup=reply_markup,
            fwd_json=json.dumps(fwd) if fwd else None,
        )

    def in_box(self, box: str) -> list[StoredMessage]:
        """Every message of one box (a channel's posts), oldest first."""
        rows = self.store.query("SELECT id FROM messages WHERE box = ? ORDER BY id", (box,))
        found = [self.get(box, message_id) for (message_id,) in rows]
        return [m for m in found if m is not None]

    def sent_to_user(self, user_id: int) -> list[StoredMessage]:
        """What bots sent this user, oldest first."""
        rows = self.store.query(
            "SELECT box, id FROM messages WHERE peer = ? AND out = 1 ORDER BY date, id",
            (user_box(user_id),),
        )
        found = [self.get(box, message_id) for box, message_id in rows]
        return [m for m in found if m is not None and m.box.startswith("u:")]

    # --- TL views -------------------------------------------------------------------------

    def media_tl(self, stored: StoredFile) -> Any:
        if stored.kind == "photo":
            return types.MessageMediaPhoto(
                photo=types.Photo(
                    id=stored.id,
                    access_hash=stored.access_hash,
                    file_reference=stored.file_reference,
                    date=stored.date,
                    sizes=[
                        types.PhotoSize(
                            type="y",
                            w=stored.width or 1280,
                            h=stored.height or 720,
                            size=stored.size,
                        )
                    ],
                    dc_id=stored.dc,
                )
            )
        attributes: list[Any] = [types.DocumentAttributeFilename(file_name=stored.name)]
        duration = stored.duration or 0.0
        if stored.kind in ("video", "animation"):
            attributes.append(
                types.DocumentAttributeVideo(
                    duration=duration,
                    w=stored.width or 1280,
                    h=stored.height or 720,
                    supports_streaming=True,
                )
            )
            if stored.kind == "animation":
                attributes.append(types.DocumentAttributeAnimated())
        elif stored.kind in ("audio", "voice"):
            attributes.append(
                types.DocumentAttributeAudio(
                    duration=int(duration), voice=stored.kind == "voice" or None
                )
            )
        # Telegram lists a document's thumbnail as a PhotoSize, fetched with getFile of the
        # document's location and that size's type as thumb_size.
        thumb = (
            None
            if stored.thumb is None
            else types.PhotoSize(
                type=stored.thumb.type, w=stored.thumb.w, h=stored.thumb.h, size=stored.thumb.size
            )
        )
        return types.MessageMediaDocument(
            video=stored.kind == "video" or None,
            voice=stored.kind == "voice" or None,
            document=types.Document(
                id=stored.id,
                access_hash=stored.access_hash,
                file_reference=stored.file_reference,
                date=stored.date,
                mime_type=stored.mime_type,
                size=stored.size,
                dc_id=stored.dc,
                attributes=attributes,
                thumbs=None if thumb is None else [thumb],
            ),
        )

    def message_tl(self, msg: StoredMessage) -> types.Message:
        if msg.peer_kind == "c":
            peer: Any = types.PeerChannel(channel_id=msg.peer_id)
        else:
            peer = types.PeerUser(user_id=msg.peer_id)
        media = None
        if msg.file_id is not None:
            stored = self.store.files.get(msg.file_id)
            media = self.media_tl(stored) if stored else types.MessageMediaUnsupported()
        fwd = None
        if msg.fwd_json:
            info = json.loads(msg.fwd_json)
            fwd = types.MessageFwdHeader(
                date=info["date"],
                from_id=_peer_from_key(info["from"]) if info.get("from") else None,
                channel_post=info.get("channel_post"),
            )
        return types.Message(
            id=msg.id,
            peer_id=peer,
            date=msg.date,
            message=msg.text,
            out=msg.out or None,
            post=msg.peer_kind == "c" or None,
            # A broadcast post names no author; from_id only records which bot posted it.
            from_id=types.PeerUser(user_id=msg.from_id)
            if msg.from_id and msg.peer_kind == "u"
            else None,
            fwd_from=fwd,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=msg.reply_to)
            if msg.reply_to
            else None,
            media=media,
            reply_markup=tl.read(msg.reply_markup) if msg.reply_markup else None,
            entities=tl.read(msg.entities) if msg.entities else None,
            edit_date=msg.edit_date,
        )

    def peers_of(
        self, messages: list[StoredMessage], viewer: User | None
    ) -> tuple[list[Any], list[Any]]:
        """The users and chats a client needs to make sense of these messages."""
        user_ids: set[int] = set()
        channel_ids: set[int] = set()
        for msg in messages:
            (channel_ids if msg.peer_kind == "c" else user_ids).add(msg.peer_id)
            if msg.from_id and msg.peer_kind == "u":
                user_ids.add(msg.from_id)
            if msg.fwd_json:
                source = json.loads(msg.fwd_json).get("from")
                if source and source.startswith("u:"):
                    user_ids.add(int(source[2:]))
                elif source:
                    channel_ids.add(int(source[2:]))
        if viewer is not None:
            user_ids.add(viewer.id)
        users = [
            user_tl(self.store.users[uid], viewer)
            for uid in sorted(user_ids)
            if uid in self.store.users
        ]
        chats = [
            self.channel_tl(self.channels[cid])
            for cid in sorted(channel_ids)
            if cid in self.channels
        ]
        return users, chats

    def updates_tl(self, msg: StoredMessage, pts: int, edited: bool, viewer: User | None) -> Any:
        message = self.message_tl(msg)
        if msg.peer_kind == "c":
            update: Any = (
                types.UpdateEditChannelMessage(message=message, pts=pts, pts_count=1)
                if edited
                else types.UpdateNewChannelMessage(message=message, pts=pts, pts_count=1)
            )
        else:
            update = (
                types.UpdateEditMessage(message=message, pts=pts, pts_count=1)
                if edited
                else types.UpdateNewMessage(message=message, pts=pts, pts_count=1)
            )
        users, chats = self.peers_of([msg], viewer)
        return types.Updates(
            updates=[update], users=users, chats=chats, date=int(time.time()), seq=0
        )

    # --- delivery -------------------------------------------------------------------------

    def push(self, msg: StoredMessage, pts: int, edited: bool) -> None:
        """Push an update to the sessions of every bot that should see it.

        A bot never gets its own messages as updates (its client has them from the call's
        result), as with the Bot API.
        """
        if msg.box.startswith("u:"):
            recipients = [] if msg.out else [int(msg.box[2:])]
        else:
            recipients = self.channel_audience(msg.peer_id, sender=msg.from_id)
        for user_id in recipients:
            user = self.store.users.get(user_id)
            if user is None:
                continue
            self.deliver(user_id, self.updates_tl(msg, pts, edited, user))

    def channel_audience(self, channel_id: int, sender: int | None) -> list[int]:
        """The bots that get a channel's updates: its members, but not the one who acted."""
        return [
            bot.id for bot in self.bots if bot.id != sender and self.is_member(channel_id, bot.id)
        ]

    def difference(self, box: str, after_pts: int, limit: int = 1000) -> list[Change]:
        rows = self.store.query(
            "SELECT pts, kind, message_id FROM update_log WHERE box = ? AND pts > ? "
            "ORDER BY pts LIMIT ?",
            (box, after_pts, limit),
        )
        return [
            Change(pts, kind, message_id, self.get(box, message_id))
            for pts, kind, message_id in rows
        ]


def _blob(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


def _peer_from_key(key: str) -> Any:
    if key.startswith("c:"):
        return types.PeerChannel(channel_id=int(key[2:]))
    return types.PeerUser(user_id=int(key[2:]))


def urls_of(msg: StoredMessage) -> list[str]:
    """Every URL a person could follow from this message: in its text, entities and buttons."""
    urls: list[str] = list(_URL.findall(msg.text))
    if msg.entities:
        for entity in tl.read(msg.entities):
            url = getattr(entity, "url", None)
            if url:
                urls.append(url)
    if msg.reply_markup:
        markup = tl.read(msg.reply_markup)
        for row in getattr(markup, "rows", []):
            for button in row.buttons:
                url = button_url(button)
                if url:
                    urls.append(url)
    seen: dict[str, None] = {}
    for url in urls:
        seen.setdefault(url, None)
    return list(seen)


def button_url(button: Any) -> str | None:
    # Older layers put the URL on the button; layer 229 inline buttons carry it in `type`.
    url = getattr(button, "url", None) or getattr(getattr(button, "type", None), "url", None)
    return url if isinstance(url, str) else None


def markup_json(msg: StoredMessage) -> Any:
    if not msg.reply_markup:
        return None
    markup = tl.read(msg.reply_markup)
    rows = []
    for row in getattr(markup, "rows", []):
        rows.append([{"text": getattr(b, "text", ""), "url": button_url(b)} for b in row.buttons])
    return {"inline_keyboard": rows}
