"""`chanwatch login` and `chanwatch backfill`: the commands that talk to Telegram directly."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from tqdm import tqdm

from chanwatch.config import AccountConfig, Config
from chanwatch.errors import ConfigError
from storage.errors import ChanwatchError

if TYPE_CHECKING:
    from monitor.sources.telegram_login import ClientFactory

WEB_HISTORY_DEFAULT: Final = 1000
"""Posts a web backfill loads without --limit: the preview pages back ~20 posts at a time,
so "everything" could mean thousands of requests to t.me."""


def credentials_missing(config: Config, account: AccountConfig) -> str | None:
    """Why `account` cannot talk to Telegram as configured; None when it can."""
    if account.configured:
        return None
    where = "telegram.api_id/api_hash are not set"
    if len(config.telegram.accounts) > 1:
        where = f"account {account.name!r} has no api_id/api_hash (nor has [telegram])"
    return (
        f"config {config.path}: {where} (get them at https://my.telegram.org, "
        "or set CHANWATCH_API_ID/CHANWATCH_API_HASH)"
    )


def pick_account(config: Config, name: str | None) -> AccountConfig:
    """The account `--account NAME` names; without a name, the only one there is."""
    accounts = config.telegram.accounts
    names = ", ".join(account.name for account in accounts)
    if name is None:
        if len(accounts) > 1:
            raise ConfigError(
                f"config {config.path}: {len(accounts)} Telegram accounts are configured "
                f"({names}): choose one with --account NAME"
            )
        account = accounts[0]
    else:
        found = config.telegram.account(name)
        if found is None:
            raise ConfigError(
                f"config {config.path}: there is no Telegram account {name!r} "
                f"(configured: {names})"
            )
        account = found
    problem = credentials_missing(config, account)
    if problem:
        raise ConfigError(problem)
    return account


async def open_account(
    config: Config, account: AccountConfig, client_factory: ClientFactory | None
) -> Any:
    """A connected client of an account that is logged in; never prompts."""
    from monitor.sources.telegram_login import open_client

    return await open_client(
        account.api_id,
        account.api_hash,
        account.session,
        client_factory=client_factory,
        login_command=config.telegram.login_command(account),
    )


async def login(
    config: Config,
    *,
    phone: str | None,
    account: str | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    from monitor.sources.telegram_login import login as telethon_login

    chosen = pick_account(config, account)
    line = await telethon_login(
        api_id=chosen.api_id,
        api_hash=chosen.api_hash,
        session_path=chosen.session,
        phone=phone,
        input_func=input,
        password_func=getpass.getpass,
        client_factory=client_factory,
    )
    suffix = f" (account {chosen.name}, session {chosen.session})"
    print(line + (suffix if len(config.telegram.accounts) > 1 else ""))
    return 0


async def backfill(
    config: Config,
    handle: str,
    *,
    limit: int | None,
    since: datetime | None,
    progress: bool,
    client_factory: ClientFactory | None = None,
) -> int:
    """Load a watched channel's history as history (no alerts), from its own source."""
    from chanwatch.app import prepare_store, web_source
    from monitor.history import HistoryStories
    from monitor.ingest import Ingest, SilentListener
    from monitor.sources.base import PostSink
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
        # Grouped into stories with each other and the posts stored around them.
        window = config.stories.window
        sink: PostSink = ingest if window is None else HistoryStories(ingest, store, window)
        if channel.source == "web":
            async with web_source(config, ingest) as web:
                wanted = limit or WEB_HISTORY_DEFAULT
                with tqdm(
                    total=wanted, desc=handle, unit=" posts", file=sys.stderr, disable=not progress
                ) as bar:
                    posts = await web.fetch_history(
                        handle, wanted, since=since, on_page=bar.update
                    )
            await sink.handle_posts(posts, history=True)
            count = len(posts)
        else:
            from monitor.sources.backfill import backfill as telethon_backfill

            # The account that reads the channel has joined it; else the first one.
            held = config.telegram.account(channel.account) if channel.account else None
            account = pick_account(config, (held or config.telegram.accounts[0]).name)
            client = await open_account(config, account, client_factory)
            try:
                count = await telethon_backfill(
                    client, handle, sink=sink, limit=limit, since=since, progress=progress
                )
            finally:
                await client.disconnect()
        print(f"chanwatch: {handle}: {count} post(s) loaded as history", file=sys.stderr)
    finally:
        await store.close()
    return 0
