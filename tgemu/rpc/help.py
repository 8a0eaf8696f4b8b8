"""help.*: the configuration a client bootstraps from; dc_options list the emulator's ports."""

from __future__ import annotations

import time
from typing import Any

from pyrogram.raw import functions, types

from .context import CallContext
from .methods import Methods

methods = Methods()


@methods.register(functions.help.GetConfig, needs_auth=False)
async def get_config(ctx: CallContext, query: Any) -> Any:
    world = ctx.world
    now = int(time.time())
    options = [
        types.DcOption(id=dc, ip_address=world.config.host, port=world.ports[dc])
        for dc in world.dc_ids
    ]
    return types.Config(
        date=now,
        expires=now + 3600,
        test_mode=False,
        this_dc=ctx.dc,
        dc_options=options,
        dc_txt_domain_name="emulator.invalid",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=4 if 4 in world.dc_ids else world.config.home_dc,
        tmp_sessions=None,
    )


@methods.register(functions.help.GetNearestDc, needs_auth=False)
async def get_nearest_dc(ctx: CallContext, query: Any) -> Any:
    return types.NearestDc(country="ZZ", this_dc=ctx.dc, nearest_dc=ctx.world.config.home_dc)
