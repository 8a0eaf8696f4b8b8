"""The composition root: builds every part of a running server from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .live import LiveCollector
from .media import Media
from .metrics import Metrics
from .store import BotSessions, SharedStateDown, StateStore, check_session_file, open_store
from .store.lease_redis import FencedSessions, RedisLease
from .store.lease_rules import Timing
from .store.redis_store import PREFIX, RedisStore
from .store.reply_marks import MemoryMarks, RedisMarks, ReplyMarks
from .store.revocations import Revocations
from .streaming.cache import PartCache
from .streaming.disk_tier import DiskTier
from .streaming.pipeline import LiveTasks
from .streaming.source import FileStreams, StreamSettings
from .telegram import file_index
from .telegram.bots import BotClient
from .telegram.connector import KurigramConnector
from .telegram.dcmap import DcMap
from .telegram.downloader import BotWorker, Downloader
from .telegram.flood import FloodPolicy
from .telegram.leader import Leadership
from .telegram.network import trust_rsa_key
from .telegram.registry import DcRegistry
from .telegram.resolver import FileResolver
from .telegram.startup import keep_signing_in
from .telegram.warm_choice import most_served
from .telegram.warm_start import warm_bot

log = logging.getLogger("tgstream.service")

# Seconds between additions of the requests each DC served to the store's counts: a kill
# loses at most this much of a hint.
SERVED_FLUSH_INTERVAL = 5.0


@dataclass
class Services:
    settings: Settings
    store: StateStore
    metrics: Metrics
    bots: list[BotClient]
    workers: list[BotWorker]
    dcmap: DcMap
    flood: FloodPolicy
    resolver: FileResolver
    downloader: Downloader
    cache: PartCache
    # The files as the web layer reads them (its FileSource): resolver, cache and downloader.
    files: FileStreams
    pipeline_tasks: LiveTasks
    # Who handles the main bot's updates (always this server on SQLite), and the marks
    # that make each answer happen once.
    leadership: Leadership
    marks: ReplyMarks
    # Which messages' links were revoked, read through the store (checked on every link).
    revocations: Revocations
    # Media probes and HLS segment jobs, reading through `files`.
    media: Media
    started: bool = False
    sign_ins: list[asyncio.Task[None]] = field(default_factory=list)
    # The start-up's warm-up of the busiest DCs, and the counting of what each DC served.
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # Set when start-up cannot go on (the main bot's token refused): `fatal` says why.
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    fatal: str | None = None
    # Set by the server once it listens: its connection counters, and the open-file limit.
    connections: Callable[[], dict[str, Any]] | None = None
    open_files_limit: int | None = None
    # The SESSION_DIR lock's file descriptor, held while the process lives.
    session_lock: int | None = None
    # One index backfill at a time: a second waits for the first and then finds it done.
    backfilling: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def secret(self) -> str:
        return self.settings.secret.get_secret_value()

    async def index_file(self, message_id: int, posted: int) -> None:
        """Add a bin-channel message's file to the file index (the bot calls it)."""
        await file_index.record(self.resolver, self.store, message_id, posted)

    async def backfill_index(self, gap: int) -> dict[str, int]:
        """Walk the bin channel once and index what it holds (`tgstream index --backfill`
        asks the running server: its bots hold the sessions)."""
        async with self.backfilling:
            flood, bots = self.flood, self.bots
            report = await file_index.backfill(
                bots, self.settings.bin_channel, self.store, flood, gap
            )
        return report.as_dict()

    @classmethod
    def build(cls, settings: Settings) -> Services:
        if settings.tg_rsa_public_key is not None:
            trust_rsa_key(settings.tg_rsa_public_key)
        store = open_store(settings.state_url, settings.session_dir, settings.state_timeout)
        metrics = Metrics()
        tokens = [settings.bot_token, *settings.multi_tokens]
        lease: RedisLease | None = None
        fenced: FencedSessions | None = None
        marks: ReplyMarks = MemoryMarks()
        if isinstance(store, RedisStore):
            name = f"{socket.gethostname()}:{settings.port}/{os.getpid()}"
            lease = RedisLease(store.client, PREFIX, name, settings.lease)
            fenced = FencedSessions(store, lease, fence=lambda: None)
            marks = RedisMarks(store.client, PREFIX)

        def sessions_of(index: int) -> BotSessions | None:
            # The main bot's update state is written under the lease's fencing token.
            return fenced if index == 0 and fenced is not None else store.sessions

        bots = [
            BotClient(
                index=index,
                token=token.get_secret_value(),
                api_id=settings.api_id,
                api_hash=settings.api_hash.get_secret_value(),
                session_dir=settings.session_dir,
                addresses=settings.tg_dc_addresses,
                handles_updates=index == 0,
                sleep_threshold=settings.flood_sleep_threshold,
                sessions=sessions_of(index),
            )
            for index, token in enumerate(tokens)
        ]
        leadership = Leadership(bots[0], lease, Timing(settings.lease))
        if fenced is not None:
            fenced.fence = leadership.fence
        flood = FloodPolicy(threshold=settings.flood_sleep_threshold, store=store)
        if store.sessions is None:
            for bot in bots:
                check_session_file(bot.session_file)
        workers = [
            BotWorker(
                bot,
                DcRegistry(
                    KurigramConnector(bot, settings.tg_dc_addresses),
                    store,
                    settings.connections_per_dc,
                    settings.requests_per_connection,
                    flood,
                ),
            )
            for bot in bots
        ]
        dcmap = DcMap(store)
        resolver = FileResolver(bots, settings.bin_channel, store, flood, settings.file_recheck)
        downloader = Downloader(
            workers, resolver, dcmap, flood, metrics, verify=settings.verify_parts
        )
        disk = DiskTier(settings.cache_dir, settings.cache_disk_mb * 1024 * 1024)
        disk.open()
        cache = PartCache(settings.cache_size_mb * 1024 * 1024, disk)
        resolver.on_forget = cache.drop
        tasks = LiveTasks()
        stream_settings = StreamSettings(
            in_flight=settings.parts_in_flight, first_part_size=settings.first_part_size
        )
        files = FileStreams(resolver, downloader, cache, stream_settings, tasks)
        services = cls(
            settings=settings,
            store=store,
            metrics=metrics,
            bots=bots,
            workers=workers,
            dcmap=dcmap,
            flood=flood,
            resolver=resolver,
            downloader=downloader,
            cache=cache,
            files=files,
            pipeline_tasks=tasks,
            leadership=leadership,
            marks=marks,
            revocations=Revocations(store),
            media=Media.build(files, store, cache, settings.transcode_slots, metrics),
        )
        live = LiveCollector(cache, dcmap, flood, resolver, workers, store, services.pipeline_tasks)
        metrics.registry.register(live)
        metrics.registry.register(leadership)
        return services

    async def start(self) -> None:
        """Sign every bot in, in the background: the server answers (503 with the reason)
        while they wait, and serves with whichever bots are up."""
        from .bot.handlers import attach

        # Read again before each call once a shared store that is down answers.
        with contextlib.suppress(SharedStateDown):
            await self.flood.load()

        attach(
            self.bots[0].client,
            self.settings,
            self.marks,
            self.leadership.fence,
            self.store,
            self.revocations,
            self.metrics,
            self.index_file,
        )
        turn = asyncio.Lock()
        for bot in self.bots:
            task = asyncio.create_task(keep_signing_in(bot, self.flood, turn, self._refused))
            self.sign_ins.append(task)
            task.add_done_callback(self._signed_in)
        self.background = [
            asyncio.create_task(self._warm_up()),
            asyncio.create_task(self._count_served()),
        ]

    async def _warm_up(self) -> None:
        """Each bot opens the pools of the DCs that served the most streams (WARM_DCS) from
        their kept keys, as soon as it can (warm_start.py); nothing waits on it, and a
        request that comes first joins the pool's creation under way."""
        if self.settings.warm_dcs == 0:
            return
        try:
            served = await self.store.dc_served()
        except SharedStateDown:
            return  # a hint only: pools open on first use, as without it
        dcs = most_served(served, self.settings.warm_dcs)
        if not dcs:
            return
        log.info("warming up", extra={"dcs": dcs})

        await asyncio.gather(
            *(
                warm_bot(w.bot, w.registry, signing_in, dcs)
                for w, signing_in in zip(self.workers, self.sign_ins, strict=True)
            )
        )

    async def _count_served(self) -> None:
        while True:
            await asyncio.sleep(SERVED_FLUSH_INTERVAL)
            await self._flush_served()

    async def _flush_served(self) -> None:
        for worker in self.workers:
            await worker.registry.flush_served()

    def _refused(self, bot: BotClient, error: str) -> None:
        if bot.index == 0:
            # The main bot is the one users talk to: without it there is no service, and
            # its token is a setting to fix, like a missing one.
            self.fatal = f"BOT_TOKEN: Telegram refused the bot ({error})"
        else:
            log.error("extra bot left out", extra={"bot_id": bot.bot_id, "variable": "MULTI_TOKEN"})
        self.failed.set()

    def _signed_in(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.fatal = f"start-up failed: {task.exception()!r}"
            self.failed.set()
        main, *extra = self.bots
        if main.ready:
            self.leadership.start()
        self.started = main.ready and all(bot.ready or bot.refused for bot in extra)

    @property
    def serving(self) -> bool:
        return any(bot.ready for bot in self.bots)

    async def stop(self) -> None:
        self.started = False
        # First: hand the updates over to another replica at once.
        await self.leadership.stop()
        for task in self.sign_ins + self.background:
            task.cancel()
        for task in self.sign_ins + self.background:
            with contextlib.suppress(BaseException):
                await task
        await self._flush_served()
        for worker in self.workers:
            await worker.registry.close()
        self.media.close()
        # Parts still being written to disk are worth keeping for the next start.
        await self.cache.disk.close()
        for bot in self.bots:
            try:
                await asyncio.wait_for(bot.stop(), 10)
            except Exception as exc:  # shutting down: report and go on
                log.warning("bot stop failed", extra={"bot_id": bot.bot_id, "error": repr(exc)})
        await self.store.close()
