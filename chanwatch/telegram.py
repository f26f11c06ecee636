"""`chanwatch login` and `chanwatch backfill`: the commands that talk to Telegram directly."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from typing import Final

from tqdm import tqdm

from chanwatch.config import Config
from chanwatch.errors import ConfigError
from storage.errors import ChanwatchError

WEB_HISTORY_DEFAULT: Final = 1000
"""Posts a web backfill loads without --limit: the preview pages back ~20 posts at a time,
so "everything" could mean thousands of requests to t.me."""


def _credentials(config: Config) -> tuple[int, str]:
    if not config.telegram.configured:
        raise ConfigError(
            f"config {config.path}: telegram.api_id/api_hash are not set "
            "(get them at https://my.telegram.org, or set CHANWATCH_API_ID/CHANWATCH_API_HASH)"
        )
    return config.telegram.api_id, config.telegram.api_hash


async def login(config: Config, *, phone: str | None) -> int:
    from monitor.sources.telegram_login import login as telethon_login

    api_id, api_hash = _credentials(config)
    line = await telethon_login(
        api_id=api_id,
        api_hash=api_hash,
        session_path=config.telegram.session,
        phone=phone,
        input_func=input,
        password_func=getpass.getpass,
    )
    print(line)
    return 0


async def backfill(
    config: Config,
    handle: str,
    *,
    limit: int | None,
    since: datetime | None,
    progress: bool,
) -> int:
    """Load a watched channel's history as history (no alerts), from its own source."""
    from chanwatch.app import prepare_store, web_source
    from monitor.ingest import Ingest, SilentListener
    from monitor.sources.handles import normalize_handle

    handle = normalize_handle(handle)
    store = await prepare_store(config)
    try:
        channel = await store.channels.get(handle)
        if channel is None:
            raise ChanwatchError(
                f"{handle} is not a watched channel: add it to the config or with /addchannel"
            )
        ingest = await Ingest.open(store, SilentListener())
        if channel.source == "web":
            async with web_source(config, ingest) as web:
                wanted = limit or WEB_HISTORY_DEFAULT
                with tqdm(
                    total=wanted, desc=handle, unit=" posts", file=sys.stderr, disable=not progress
                ) as bar:
                    posts = await web.fetch_history(
                        handle, wanted, since=since, on_page=bar.update
                    )
            await ingest.handle_posts(posts, history=True)
            count = len(posts)
        else:
            from monitor.sources.backfill import backfill as telethon_backfill
            from monitor.sources.telegram_login import open_client

            api_id, api_hash = _credentials(config)
            client = await open_client(api_id, api_hash, config.telegram.session)
            try:
                count = await telethon_backfill(
                    client, handle, sink=ingest, limit=limit, since=since, progress=progress
                )
            finally:
                await client.disconnect()
        print(f"chanwatch: {handle}: {count} post(s) loaded as history", file=sys.stderr)
    finally:
        await store.close()
    return 0
