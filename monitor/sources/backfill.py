"""`chanwatch backfill`: load a channel's history through the Telethon account.

Posts are handed to the sink as history (stored and matched, never alerted), oldest first,
in chunks, so an interrupted backfill keeps what it stored and can simply be run again.
"""

from __future__ import annotations

import logging
import sys
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, Final

from telethon import errors
from tqdm import tqdm

from monitor.errors import SourceError
from monitor.sources.base import IncomingPost, PostSink
from monitor.sources.telegram import (
    BATCH_SIZE,
    PatientClient,
    TelegramClientLike,
    channel_label,
    resolve_channel,
)
from monitor.sources.telegram_posts import is_post, to_post, to_posts

logger = logging.getLogger(__name__)

PROGRESS_UNIT: Final = "post"


async def backfill(
    client: TelegramClientLike,
    handle: str,
    *,
    sink: PostSink,
    limit: int | None,
    since: datetime | None,
    progress: bool,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Hand the channel's history to `sink` as history posts; returns how many were handed.

    `limit`: only the newest `limit` posts (an album counts as one post).
    `since`: only posts published at or after it (naive datetimes are taken as UTC).
    Both together: the newest `limit` posts among those since `since`. Neither: everything.
    Raises SourceError naming the channel when it cannot be read.
    """
    if limit is not None and limit <= 0:
        return 0
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    patient = PatientClient(client)
    entity = await resolve_channel(patient, handle)
    label = channel_label(handle)
    title: str | None = getattr(entity, "title", None)
    bar = tqdm(total=limit, desc=label, unit=PROGRESS_UNIT, file=sys.stderr, disable=not progress)
    try:
        if limit is None:
            count = await _stream(patient, entity, handle, title, sink, since, batch_size, bar)
        else:
            posts = await _newest(patient, entity, handle, title, limit, since, bar)
            count = 0
            for start in range(0, len(posts), batch_size):
                chunk = posts[start : start + batch_size]
                await sink.handle_posts(chunk, history=True)
                count += len(chunk)
    except (errors.ChannelPrivateError, errors.ChannelInvalidError):
        raise SourceError(
            f"Telegram channel {label} is private or this account is banned from it"
        ) from None
    except errors.RPCError as exc:
        raise SourceError(f"reading Telegram channel {label} failed: {exc}") from None
    finally:
        bar.close()
    logger.info("backfilled %d posts of Telegram channel %s", count, label)
    return count


async def _stream(
    patient: PatientClient,
    entity: Any,
    handle: str,
    title: str | None,
    sink: PostSink,
    since: datetime | None,
    batch_size: int,
    bar: tqdm[Any],
) -> int:
    """Everything (since `since`), read oldest first and handed chunk by chunk."""
    what = f"backfilling {channel_label(handle)}"
    min_id = 0
    if since is not None:
        # The newest message before `since` marks where the wanted history starts.
        before = await patient.call(
            what, lambda: patient.client.get_messages(entity, limit=1, offset_date=since)
        )
        if before:
            min_id = before[0].id
    count = 0
    batches = patient.batches_after(entity, min_id, size=batch_size, what=what)
    async with aclosing(batches):
        async for batch in batches:
            wanted = [m for m in batch if since is None or m.date >= since]
            posts = to_posts(wanted, channel=handle, channel_title=title)
            if posts:
                await sink.handle_posts(posts, history=True)
                count += len(posts)
                bar.update(len(posts))
    return count


async def _newest(
    patient: PatientClient,
    entity: Any,
    handle: str,
    title: str | None,
    limit: int,
    since: datetime | None,
    bar: tqdm[Any],
) -> list[IncomingPost]:
    """The newest `limit` posts (since `since`), oldest first.

    Read newest first, so only the posts themselves are kept, never the messages.
    """
    newest_first: list[IncomingPost] = []
    album: list[Any] = []

    def close_album() -> None:
        if album:
            newest_first.append(to_post(album, channel=handle, channel_title=title))
            bar.update(1)
            album.clear()

    what = f"backfilling {channel_label(handle)}"
    async with aclosing(patient.messages_newest_first(entity, what=what)) as messages:
        async for message in messages:
            if since is not None and message.date < since:
                break
            if not is_post(message):
                continue
            if album and (message.grouped_id is None or message.grouped_id != album[0].grouped_id):
                close_album()
                if len(newest_first) >= limit:
                    break
            album.append(message)
    close_album()
    return newest_first[::-1][-limit:]
