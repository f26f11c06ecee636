"""Turning newly matched posts into alert messages in the outbox, one per subscriber.

Each alert is written when it is queued, in its chat's stored language: the incoming update
that may have caused a match says nothing about who receives it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final

from aiogram.utils.i18n import I18n

from bot.i18n import speaking
from bot.render import render_alert
from storage import Store
from storage.models import NewMessage, StoredPost, Subscriber

logger = logging.getLogger(__name__)

BATCH: Final = 100


def alert_key(chat_id: int, post: StoredPost) -> str:
    """One alert per post per chat, ever: an edit that matches more topics adds none."""
    return f"alert:{chat_id}:{post.id}"


def alert_for(
    post: StoredPost, subscriber: Subscriber, topic_names: set[str]
) -> NewMessage | None:
    """The subscriber's alert for the post, naming only their topics (None: none of theirs)."""
    theirs = tuple(hit for hit in post.hits if hit.topic.casefold() in topic_names)
    if not theirs:
        return None
    return NewMessage(
        chat_id=subscriber.chat_id,
        kind="alert",
        dedup_key=alert_key(subscriber.chat_id, post),
        text=render_alert(replace(post, hits=theirs)),
        disable_notification=subscriber.quiet,
    )


async def fan_out(store: Store, i18n: I18n, *, batch: int = BATCH) -> int:
    """Queue the alerts owed for every post waiting in the fanout table; returns rows queued.

    Each post's alerts are queued and its fanout row removed in one transaction, so a crash
    repeats a post at most, and the dedup keys make the repeat a no-op.
    """
    queued = 0
    while True:
        posts = await store.posts.pending_fanout(batch)
        if not posts:
            return queued
        for post in posts:
            messages: list[NewMessage] = []
            matched = sorted({hit.topic for hit in post.hits})
            for subscriber, followed in await store.subscribers.for_topics(matched):
                if not subscriber.wants_instant:
                    continue
                with speaking(i18n, subscriber.language):
                    message = alert_for(post, subscriber, followed)
                if message is not None:
                    messages.append(message)
            added = await store.posts.complete_fanout(post.id, messages)
            queued += added
            logger.info(
                "alerts queued channel=%s post_id=%d chats=%d new=%d",
                post.channel_handle,
                post.post_id,
                len(messages),
                added,
            )
