"""The bot in a group: only the group's admins change its subscriptions; alerts go to it."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from storage import Store, TopicSpec
from tests.bot_helpers import (
    ALICE,
    BOB,
    BOT_USERNAME,
    GROUP,
    WAIT_LIMIT,
    Conversation,
    conversation,
)

# The fake makes a group's first admin its creator; ALICE stays a plain administrator.
_OWNER: Final = 5005


async def _group(c: Conversation) -> None:
    c.api.add_group(GROUP, "Newsroom", admins=[_OWNER, ALICE])
    await c.store.topics.put(TopicSpec("Погода", ("мороз",)))
    await c.store.topics.put(TopicSpec("Выборы", ("выборы",)))


async def _group_topics(store: Store) -> set[str]:
    ids = await store.subscribers.topic_ids(GROUP)
    return {topic.name for topic in await store.topics.live() if topic.id in ids}


async def test_member_is_refused_and_admin_subscribes_the_group(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await _group(c)
        refusal = await c.ask("/subscribe Погода", chat_id=GROUP, user_id=BOB)
        assert "only this group's admins" in refusal
        assert await _group_topics(c.store) == set()
        assert "only this group's admins" in await c.ask(
            "/digest 08:00", chat_id=GROUP, user_id=BOB
        )
        answer = await c.ask(f"/subscribe@{BOT_USERNAME} погода", chat_id=GROUP, user_id=ALICE)
        assert "Subscribed to <b>Погода</b>" in answer
        assert await _group_topics(c.store) == {"Погода"}
        group = await c.store.subscribers.get(GROUP)
        assert group is not None
        assert (group.chat_type, group.title) == ("supergroup", "Newsroom")
        # Alerts for the topic go to the group's chat id.
        following = await c.store.subscribers.for_topics(["Погода"])
        assert [(s.chat_id, names) for s, names in following] == [(GROUP, {"погода"})]
        # Reading is open to every member.
        assert "Nothing yet" in await c.ask("/recent", chat_id=GROUP, user_id=BOB)


async def test_only_admins_can_press_topic_buttons_in_a_group(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await _group(c)
        (listing,) = await c.say("/topics", chat_id=GROUP, user_id=BOB)
        answer = await c.press(listing, listing.button("Выборы"), user_id=BOB)
        assert answer.text is not None and "only this group's admins" in answer.text
        assert answer.show_alert is True
        assert c.latest(listing).edits == 0 and await _group_topics(c.store) == set()
        answer = await c.press(listing, listing.button("Выборы"), user_id=ALICE)
        assert answer.text == "Subscribed to Выборы"
        assert c.latest(listing).edits == 1 and await _group_topics(c.store) == {"Выборы"}


async def test_commands_for_other_bots_are_ignored(tmp_path: Path) -> None:
    async with conversation(tmp_path) as c:
        await _group(c)
        await c.api.user_sends(GROUP, "/subscribe@some_other_bot", user_id=ALICE)
        await c.api.user_sends(GROUP, "/frobnicate", user_id=ALICE)
        # The next thing the bot says in the group answers /help: the two before got nothing.
        (message,) = await c.say(f"/help@{BOT_USERNAME}", chat_id=GROUP, user_id=BOB)
        assert "What I watch" in message.text
        assert len(c.api.messages_to(GROUP)) == 1
        assert await _group_topics(c.store) == set()
        assert "I don't know that command" in await c.ask(
            f"/frobnicate@{BOT_USERNAME}", chat_id=GROUP, user_id=BOB
        )


async def test_a_channel_can_subscribe_through_its_own_posts(tmp_path: Path) -> None:
    channel = -100999
    async with conversation(tmp_path) as c:
        await c.store.topics.put(TopicSpec("Погода", ("мороз",)))
        await c.api.channel_posts(channel, f"/subscribe@{BOT_USERNAME}")
        (answer,) = await c.api.wait_for_messages(1, chat_id=channel, timeout=WAIT_LIMIT)
        assert "Subscribed to <b>Погода</b>" in answer.text
        subscriber = await c.store.subscribers.get(channel)
        assert subscriber is not None and subscriber.chat_type == "channel"
        assert len(await c.store.subscribers.topic_ids(channel)) == 1
