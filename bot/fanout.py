"""Turning newly matched posts into alert messages in the outbox, one per subscriber.

Each alert is written when it is queued, in its chat's stored language: the incoming update
that may have caused a match says nothing about who receives it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Final

from bot.i18n import Catalogs, speaking
from bot.render import render_alert
from storage import Store
from storage.models import NewMessage, StoredPost, StoryAlert, Subscriber, TopicHit

logger = logging.getLogger(__name__)

BATCH: Final = 100


def alert_key(chat_id: int, post: StoredPost) -> str:
    """One alert per post per chat, ever: an edit that matches more topics adds none."""
    return f"alert:{chat_id}:{post.id}"


def _theirs(post: StoredPost, topic_names: set[str]) -> tuple[TopicHit, ...]:
    return tuple(hit for hit in post.hits if hit.topic.casefold() in topic_names)


def alert_for(
    post: StoredPost, subscriber: Subscriber, topic_names: set[str]
) -> NewMessage | None:
    """The subscriber's alert for the post, naming only their topics (None: none of theirs)."""
    theirs = _theirs(post, topic_names)
    if not theirs:
        return None
    return NewMessage(
        chat_id=subscriber.chat_id,
        kind="alert",
        dedup_key=alert_key(subscriber.chat_id, post),
        text=render_alert(replace(post, hits=theirs)),
        disable_notification=subscriber.quiet,
        post=post.id,
        story=post.story_key,
    )


@dataclass
class _Story:
    """What fan-out knows of a copy's story: its posts and the alerts already queued."""

    posts: dict[int, StoredPost]
    alerts: dict[int, StoryAlert]
    """By chat: the chat's alert of this story, with the text its message has last been given."""

    @classmethod
    async def load(cls, store: Store, story: int) -> _Story:
        posts = {post.id: post for post in await store.posts.story(story)}
        return cls(posts, await store.outbox.story_alerts(story))


class _NoAlertYet:
    """The chat has no alert of the story yet: this copy is the first of it to match."""


NO_ALERT_YET: Final = _NoAlertYet()


def edit_for(
    post: StoredPost, story: _Story, subscriber: Subscriber, topic_names: set[str]
) -> NewMessage | _NoAlertYet | None:
    """For a copy of a story the chat was alerted of: the edit of that alert that names the
    copy's channel (and any topic only the copies matched); None when the alert already says
    all that; NO_ALERT_YET when the chat has no alert of this story (this copy is the first
    of it to match their topics, or the post it alerted left the story)."""
    alert = story.alerts.get(subscriber.chat_id)
    alerted = None if alert is None else story.posts.get(alert.post)
    if alert is None or alerted is None:
        return NO_ALERT_YET
    copies = [
        copy
        for copy in story.posts.values()
        if copy.id != alerted.id and _theirs(copy, topic_names)
    ]
    more = [hit.topic for copy in copies for hit in _theirs(copy, topic_names)]
    text = render_alert(
        replace(alerted, hits=_theirs(alerted, topic_names)), copies=copies, more_topics=more
    )
    if text == alert.text:
        return None
    alert.text = text
    alert.edits += 1
    return NewMessage(
        chat_id=subscriber.chat_id,
        kind="edit",
        # Numbered, not per copy: an edited copy that adds a topic edits the alert again.
        dedup_key=f"edit:{subscriber.chat_id}:{alert.id}:{alert.edits}",
        text=text,
        post=post.id,
        story=post.story_key,
        target=alert.id,
    )


async def fan_out(store: Store, i18n: Catalogs, *, batch: int = BATCH) -> int:
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
            story: _Story | None = None
            for subscriber, followed in await store.subscribers.for_topics(matched):
                if not subscriber.wants_instant:
                    continue
                found: NewMessage | _NoAlertYet | None = NO_ALERT_YET
                if post.story is not None and subscriber.group_copies:
                    # A copy: the chat's alert of its story, if it has one, is edited.
                    story = story or await _Story.load(store, post.story)
                    with speaking(i18n, subscriber.language):
                        found = edit_for(post, story, subscriber, followed)
                if found is NO_ALERT_YET:
                    with speaking(i18n, subscriber.language):
                        found = alert_for(post, subscriber, followed)
                if isinstance(found, NewMessage):
                    messages.append(found)
            added = await store.posts.complete_fanout(post.id, messages)
            queued += added
            logger.info(
                "alerts queued channel=%s post_id=%d chats=%d new=%d",
                post.channel_handle,
                post.post_id,
                len(messages),
                added,
            )
