"""Running one API call: injected faults first, then authorization, then its handler.

Every outcome is an answer body (a result or an rpc_error), or None when the call wants none;
an answer a fault holds back comes as Held, for the connection to send when it is due.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from pyrogram.raw import functions

from ..mtproto.events import RpcCall
from ..mtproto.results import rpc_error
from ..mtproto.session import SessionState
from ..mtproto.sessions import SessionTable
from ..store import AuthKey
from ..world import World
from .context import CallContext, RpcError
from .encode import encode
from .methods import Methods
from .query import Query, UnparsableQuery, parse_query

log = logging.getLogger("tgemu.rpc")


class Held(NamedTuple):
    seconds: float
    body: bytes


class Dispatcher:
    def __init__(self, world: World, sessions: SessionTable, methods: Methods) -> None:
        self.world = world
        self.sessions = sessions
        self.methods = methods

    async def run(
        self, call: RpcCall, dc: int, key: AuthKey, session: SessionState
    ) -> bytes | Held | None:
        stats = self.world.stats
        try:
            query = parse_query(call.body, self._layer_of(session))
        except UnparsableQuery as exc:
            stats.unimplemented[str(exc)] += 1
            return rpc_error(400, "INPUT_METHOD_INVALID") if call.content_related else None
        if query is None:
            return None  # e.g. msgs_state_info on its own: nothing to run
        session.layer = query.layer if query.layer is not None else self._layer_of(session)
        stats.methods[query.name] += 1
        ctx = CallContext(self.world, self.sessions, dc, key, session, call.msg_id)
        try:
            return encode(await self._answer(ctx, query), session.layer)
        except RpcError as exc:
            stats.errors[exc.message] += 1
            body = rpc_error(exc.code, exc.message)
            return Held(exc.held, body) if exc.held else body
        except Exception:
            log.exception("method %s failed", query.name)
            return rpc_error(500, "INTERNAL")

    async def _answer(self, ctx: CallContext, query: Query) -> Any:
        world, name = self.world, query.name
        caller = self._caller_id(ctx, query.call)
        flood = world.faults.flood_wait_for(name, ctx.dc, caller)
        if flood is not None:
            world.stats.bump(ctx.dc, "flood_waits")
            raise RpcError(420, f"FLOOD_WAIT_{flood}")
        injected = world.faults.rpc_error_for(name, ctx.dc, caller)
        if injected is not None:
            raise RpcError(injected.code, injected.message, held=injected.delay)
        method = self.methods.get(query.constructor)
        if method is None:
            world.stats.unimplemented[name] += 1
            raise RpcError(400, "INPUT_METHOD_INVALID")
        if method.needs_auth:
            ctx.require_user()
            if not query.without_updates:
                ctx.session.wants_updates = True
        return await method.handler(ctx, query.call)

    def _layer_of(self, session: SessionState) -> int | None:
        """The layer `session` speaks: Telegram saves the layer of invokeWithLayer with the
        auth key (core.telegram.org/api/invoking), so a new session of a key inherits it."""
        if session.layer is None:
            for other in self.sessions:
                if other.key_id == session.key_id and other.layer is not None:
                    return other.layer
        return session.layer

    def _caller_id(self, ctx: CallContext, call: Any) -> int | None:
        """The account a call is made as, for fault rules limited to one account.

        That is the user the auth key is authorized as, except for the calls that authorize
        a key: a bot login is made as the bot its token names, an import as the user whose
        authorization it imports.
        """
        if isinstance(call, functions.auth.ImportBotAuthorization):
            bot = self.world.bot_by_token(call.bot_auth_token)
            return bot.id if bot is not None else None
        if isinstance(call, functions.auth.ImportAuthorization):
            return int(call.id)
        user = ctx.user
        return user.id if user is not None else None
