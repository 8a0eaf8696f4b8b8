"""The composition root: builds every part of a running server from the settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .metrics import Metrics
from .store import Store
from .streaming.cache import PartCache
from .streaming.pipeline import LiveTasks
from .streaming.source import StreamSettings
from .telegram.bots import BotClient
from .telegram.dcmap import DcMap
from .telegram.downloader import BotWorker, Downloader
from .telegram.flood import FloodPolicy
from .telegram.network import trust_rsa_key
from .telegram.registry import DcRegistry
from .telegram.resolver import FileResolver

log = logging.getLogger("tgstream.service")


@dataclass
class Services:
    settings: Settings
    store: Store
    metrics: Metrics
    bots: list[BotClient]
    workers: list[BotWorker]
    dcmap: DcMap
    flood: FloodPolicy
    resolver: FileResolver
    downloader: Downloader
    cache: PartCache
    stream_settings: StreamSettings
    pipeline_tasks: LiveTasks = field(default_factory=LiveTasks)
    started: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return self.settings.secret.get_secret_value()

    @classmethod
    def build(cls, settings: Settings) -> Services:
        if settings.tg_rsa_public_key:
            trust_rsa_key(settings.tg_rsa_public_key)
        store = Store(settings.session_dir)
        metrics = Metrics()
        tokens = [settings.bot_token, *settings.multi_tokens]
        bots = [
            BotClient(
                index=index,
                token=token.get_secret_value(),
                api_id=settings.api_id,
                api_hash=settings.api_hash.get_secret_value(),
                session_dir=settings.session_dir,
                addresses=settings.tg_dc_addresses,
                handles_updates=index == 0,
            )
            for index, token in enumerate(tokens)
        ]
        workers = [
            BotWorker(
                bot,
                DcRegistry(
                    bot,
                    store,
                    settings.tg_dc_addresses,
                    settings.connections_per_dc,
                    metrics,
                    settings.requests_per_connection,
                ),
            )
            for bot in bots
        ]
        dcmap = DcMap(store)
        flood = FloodPolicy(threshold=settings.flood_sleep_threshold)
        resolver = FileResolver(bots[0], settings.bin_channel, store)
        downloader = Downloader(workers, resolver, dcmap, flood, metrics)
        return cls(
            settings=settings,
            store=store,
            metrics=metrics,
            bots=bots,
            workers=workers,
            dcmap=dcmap,
            flood=flood,
            resolver=resolver,
            downloader=downloader,
            cache=PartCache(settings.cache_size_mb * 1024 * 1024),
            stream_settings=StreamSettings(
                in_flight=settings.parts_in_flight, first_part_size=settings.first_part_size
            ),
        )

    async def start(self) -> None:
        from .bot.handlers import attach

        attach(self.bots[0].client, self.settings)
        # Bots sign in one after another: parallel logins are what trips login flood waits.
        for bot in self.bots:
            await bot.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for worker in self.workers:
            await worker.registry.close()
        for bot in self.bots:
            try:
                await asyncio.wait_for(bot.stop(), 10)
            except Exception as exc:  # shutting down: report and go on
                log.warning("bot stop failed", extra={"bot_id": bot.bot_id, "error": repr(exc)})
        self.store.close()

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.started,
            "bots": [
                {
                    "bot_id": w.bot.bot_id,
                    "home_dc": w.bot.home_dc,
                    "load": w.bot.load,
                    "dc_sessions": w.registry.snapshot(),
                    "auth_keys_created": w.registry.keys_created,
                    "auth_imports": w.registry.imports,
                }
                for w in self.workers
            ],
            "dc_map": {
                "size": self.store.dc_map_size(),
                "lookups": self.dcmap.lookups,
                "learned": self.dcmap.learned,
                "migrations_seen": self.dcmap.migrations_seen,
            },
            "files_resolved": len(self.resolver.cache),
            "file_reference_refreshes": self.resolver.refreshes,
            "cache": self.cache.snapshot(),
            "flood": self.flood.snapshot(),
            "upstream_inflight": self.downloader.inflight,
            "upstream_queued": sum(w.registry.queued() for w in self.downloader.workers),
            "pipeline_tasks": self.pipeline_tasks.count,
            "active_streams": int(self.metrics.active_streams._value.get()),
        }
