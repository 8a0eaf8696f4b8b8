"""TL views of the emulator's accounts."""

from __future__ import annotations

from pyrogram.raw import types

from .store import User


def user_tl(user: User, viewer: User | None) -> types.User:
    is_self = viewer is not None and viewer.id == user.id
    return types.User(
        id=user.id,
        is_self=is_self or None,
        bot=user.is_bot or None,
        bot_nochats=None,
        bot_info_version=1 if user.is_bot else None,
        access_hash=user.access_hash,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        status=None if user.is_bot else types.UserStatusRecently(),
    )
