"""Stories live: copies of a post across channels edit the first alert instead of alerting
again. Posts go through the real ingest pipeline and story detector, alerts and edits
through the outbox and the real sender to the fake Bot API, over both storage backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from bot.delivery import Delivery
from bot.digests import DigestScheduler
from bot.fanout import fan_out
from monitor.ingest import Ingest, SilentListener
from monitor.sources.base import IncomingPost
from storage import Location, Store, TopicSpec
from storage.outbox import OutboxRecord
from tests.bot_helpers import ALICE, BOB, GROUP, Conversation, conversation
from tests.fakes.bot_api import SentMessage

CHANNELS: Final = ("chan_a", "chan_b", "chan_c", "chan_d", "chan_e")
WAIT: Final = 10.0

BASE: Final = (
    "Президент Казахстана Касым-Жомарт Токаев совершит официальный визит в Минск на следующей "
    "неделе, сообщила его пресс-служба. В ходе визита планируется подписание соглашений о "
    "торговле и логистике."
)
WITH_ENERGY: Final = BASE + " Отдельно стороны обсудят сотрудничество в энергетике."
OTHER_EVENT: Final = (
    "Премьер-министр Индии Нарендра Моди посетит Москву в июле: визит будет посвящён "
    "сотрудничеству в области атомной энергетики и космоса, заявили в Кремле журналистам."
)


class Feed:
    """Posts into the pipeline as a live source hands them over, dated a minute apart."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.ids: dict[str, int] = {}
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.count = 0

    async def post(self, channel: str, text: str) -> int:
        self.count += 1
        post_id = self.ids[channel] = self.ids.get(channel, 100) + 1
        date = self.start + timedelta(minutes=self.count)
        await self.ingest.handle_posts(
            [IncomingPost(channel, post_id, date, text)], history=False, source="web"
        )
        return post_id

    async def edit(self, channel: str, post_id: int, text: str) -> None:
        date = self.start + timedelta(minutes=1)
        await self.ingest.handle_posts(
            [IncomingPost(channel, post_id, date, text, is_edit=True)], history=False
        )


async def prepare(store: Store) -> Feed:
    for handle in CHANNELS:
        await store.channels.add(handle, "web")
        await store.posts.save(handle, [], history=True)  # first sight: later posts are live
    await store.topics.put(TopicSpec("visit", ("визит", "посетить")))
    await store.topics.put(TopicSpec("energy", ("энергетика",)))
    return Feed(await Ingest.open(store, SilentListener(), story_window_hours=24))


@asynccontextmanager
async def delivering(c: Conversation) -> AsyncIterator[Delivery]:
    """A fast delivery over the conversation's bot and store, running."""
    delivery = Delivery(
        c.bot,
        c.store,
        admins=(),
        per_chat_interval=0.01,
        group_interval=0.01,
        backoff_base=0.05,
        poll_interval=0.2,
        charts=c.charts,
    )
    task = asyncio.create_task(delivery.run())
    try:
        yield delivery
    finally:
        task.cancel()
        await asyncio.wait([task])


async def settled(c: Conversation, delivery: Delivery) -> None:
    """Until every owed alert is queued and every queued message answered and recorded."""
    delivery.wake()
    async with asyncio.timeout(WAIT):
        while await c.store.posts.pending_fanout(1) or await c.store.outbox.pending_count():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def alerts(c: Conversation, chat_id: int) -> list[SentMessage]:
    return [m for m in c.api.messages_to(chat_id) if m.text.startswith("📢")]


def edits(c: Conversation, chat_id: int) -> list[SentMessage]:
    return [m for m in c.api.edits if m.chat_id == chat_id]


def also(handle: str, post_id: int) -> str:
    return f'<a href="https://t.me/{handle}/{post_id}">@{handle}</a>'


async def outbox(c: Conversation, chat_id: int, kind: str) -> list[OutboxRecord]:
    return [row for row in await c.store.outbox.for_chat(chat_id) if row.kind == kind]


async def test_copies_edit_the_first_alert_with_their_channels_and_topics(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            first = await feed.post("chan_a", BASE)
            await settled(c, delivery)
            [alert] = alerts(c, ALICE)
            assert "🏷 visit\n" in alert.text

            # A longer copy that also matches "energy": the edit names the channel and adds
            # the topic.
            longer = await feed.post("chan_b", WITH_ENERGY)
            await settled(c, delivery)
            [edit] = edits(c, ALICE)
            assert edit.message_id == alert.message_id
            assert "🏷 visit, energy\n" in edit.text
            assert f"↪️ also in {also('chan_b', longer)}" in edit.text
            assert f"https://t.me/chan_a/{first}" in edit.text

            # Three more copies: three channels are named, the rest counted.
            for handle in ("chan_c", "chan_d", "chan_e"):
                await feed.post(handle, BASE)
            await settled(c, delivery)
            latest = c.latest(alert)
            named = ", ".join(also(h, feed.ids[h]) for h in ("chan_b", "chan_c", "chan_d"))
            assert f"↪️ also in {named} +1 more" in latest.text
            # An edit per copy at most: copies stored before fan-out reached the first of
            # them are all in its edit, and the later ones find nothing left to add.
            assert 2 <= len(edits(c, ALICE)) <= 4

            # Another event on the same topic is an alert of its own.
            other = await feed.post("chan_b", OTHER_EVENT)
            await settled(c, delivery)
        assert [m.message_id for m in alerts(c, ALICE)] == [
            alert.message_id,
            alerts(c, ALICE)[1].message_id,
        ]
        assert f"https://t.me/chan_b/{other}" in alerts(c, ALICE)[1].text


async def test_copies_off_alerts_every_copy_and_on_groups_them_again(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=BOB)
        assert "Copies on" in await c.ask("/copies", chat_id=BOB)
        assert "Copies off" in await c.ask("/copies off", chat_id=BOB)
        assert "/copies on" in await c.ask("/copies maybe", chat_id=BOB)
        async with delivering(c) as delivery:
            await feed.post("chan_a", BASE)
            await feed.post("chan_b", BASE)
            await settled(c, delivery)
            assert len(alerts(c, BOB)) == 2 and edits(c, BOB) == []
            assert "Copies on" in await c.ask("/copies on", chat_id=BOB)
            await feed.post("chan_c", BASE)
            await settled(c, delivery)
        # Grouping again: the story's first alert is edited, no third alert.
        assert len(alerts(c, BOB)) == 2
        [edit] = edits(c, BOB)
        assert edit.message_id == alerts(c, BOB)[0].message_id
        assert also("chan_c", feed.ids["chan_c"]) in edit.text


async def test_in_a_group_only_admins_turn_copies_off(tmp_path: Path, database: Location) -> None:
    async with conversation(tmp_path, database) as c:
        c.api.add_group(GROUP, "Newsroom", admins=[ALICE], members=[BOB])
        refused = await c.ask("/copies off", chat_id=GROUP, user_id=BOB)
        assert "admin" in refused
        subscriber = await c.store.subscribers.get(GROUP)
        assert subscriber is not None and subscriber.group_copies
        assert "Copies off" in await c.ask("/copies off", chat_id=GROUP, user_id=ALICE)
        subscriber = await c.store.subscribers.get(GROUP)
        assert subscriber is not None and not subscriber.group_copies


async def test_a_deleted_alert_is_not_sent_again_when_a_copy_comes(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            await feed.post("chan_a", BASE)
            await settled(c, delivery)
            [alert] = alerts(c, ALICE)
            # The user deleted the alert in their chat: Telegram answers an edit with
            # 400 "message to edit not found".
            await c.bot.delete_message(ALICE, alert.message_id)
            await feed.post("chan_b", BASE)
            await settled(c, delivery)
        assert len(alerts(c, ALICE)) == 1 and edits(c, ALICE) == []
        [edit] = await outbox(c, ALICE, "edit")
        assert edit.status == "failed" and edit.last_error == "the alert was deleted in the chat"
        refused = [call for call in c.api.calls_of("editMessageText") if not call.ok]
        assert len(refused) == 1 and "message to edit not found" in (refused[0].description or "")


async def test_an_edit_telegram_already_has_is_recorded_as_done(
    tmp_path: Path, database: Location
) -> None:
    """An edit sent before a crash but not yet recorded is sent again after the restart:
    Telegram answers 400 "message is not modified", which is success, not a failure."""
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            await feed.post("chan_a", BASE)
            await settled(c, delivery)
        [alert] = alerts(c, ALICE)
        await feed.post("chan_b", BASE)
        await fan_out(c.store, c.delivery.i18n)
        [owed] = await outbox(c, ALICE, "edit")
        await c.bot.edit_message_text(
            owed.text, chat_id=ALICE, message_id=alert.message_id, parse_mode="HTML"
        )
        async with delivering(c) as delivery:
            await settled(c, delivery)
        [edit] = await outbox(c, ALICE, "edit")
        assert edit.status == "sent" and edit.message_id == alert.message_id
        assert len(edits(c, ALICE)) == 1 and len(alerts(c, ALICE)) == 1
        refused = [call for call in c.api.calls_of("editMessageText") if not call.ok]
        assert len(refused) == 1 and "message is not modified" in (refused[0].description or "")


async def test_an_alert_that_never_arrived_is_not_edited(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        await feed.post("chan_a", BASE)
        await fan_out(c.store, c.delivery.i18n)
        [alert] = await outbox(c, ALICE, "alert")
        await c.store.outbox.mark_failed(alert.id, "Bad Request: something")
        await feed.post("chan_b", BASE)
        async with delivering(c) as delivery:
            await settled(c, delivery)
        [edit] = await outbox(c, ALICE, "edit")
        assert edit.status == "failed" and "not delivered" in (edit.last_error or "")
        assert alerts(c, ALICE) == [] and edits(c, ALICE) == []


async def test_edits_of_a_post_change_its_story_only_when_the_text_changed_substantially(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            first = await feed.post("chan_a", BASE)
            copy = await feed.post("chan_b", BASE + " Подписывайтесь!")
            await settled(c, delivery)
            [story] = await c.store.posts.recent(10, chat_id=ALICE)
            assert story.copies == 1
            # A typo fixed: still a copy, nothing sent.
            await feed.edit("chan_b", copy, BASE.replace("Минск", "Минск,") + " Подписывайтесь!")
            await settled(c, delivery)
            assert [p.copies for p in await c.store.posts.recent(10, chat_id=ALICE)] == [1]
            assert len(edits(c, ALICE)) == 1
            # A sentence added that matches another topic: still a copy, and the alert is
            # edited again to add the topic.
            await feed.edit("chan_b", copy, WITH_ENERGY)
            await settled(c, delivery)
            assert len(edits(c, ALICE)) == 2
            assert "🏷 visit, energy\n" in edits(c, ALICE)[-1].text
            # Rewritten into another event: its own story now, yet no second alert (it
            # matches the same topic as before the edit).
            await feed.edit("chan_b", copy, OTHER_EVENT.replace("атомной энергетики", "медицины"))
            await settled(c, delivery)
            recent = await c.store.posts.recent(10, chat_id=ALICE)
            assert sorted((p.channel_handle, p.copies, p.story) for p in recent) == [
                ("chan_a", 0, None),
                ("chan_b", 0, None),
            ]
        assert len(alerts(c, ALICE)) == 1 and len(edits(c, ALICE)) == 2
        assert f"chan_a/{first}" in alerts(c, ALICE)[0].text


async def test_recent_search_and_digests_show_a_story_once(
    tmp_path: Path, database: Location
) -> None:
    async with conversation(tmp_path, database) as c:
        feed = await prepare(c.store)
        await c.ask("/subscribe", chat_id=ALICE)
        await c.store.subscribers.update(ALICE, mode="digest")
        await c.store.subscribers.set_last_digest(ALICE, datetime.now(UTC) - timedelta(days=1))
        for handle in ("chan_a", "chan_b", "chan_c"):
            await feed.post(handle, BASE)
        await feed.post("chan_d", OTHER_EVENT)

        recent = await c.ask("/recent", chat_id=ALICE)
        assert recent.count("🔗") == 2, recent
        assert "+2 copies" in recent
        found = await c.ask("/search Токаев", chat_id=ALICE)
        assert found.count("🔗") == 1 and "+2 copies" in found, found
        await c.ask("/language ru", chat_id=ALICE)
        assert "+2 копии" in await c.ask("/recent", chat_id=ALICE)

        digests = DigestScheduler(c.store, c.delivery, settle=0)
        await digests.send_digest(ALICE)
        [digest] = await outbox(c, ALICE, "digest")
        assert "2 новых поста" in digest.text
        assert digest.text.count(f"https://t.me/chan_a/{feed.ids['chan_a']}") == 2  # href + text
        assert f"↪️ также в {also('chan_b', feed.ids['chan_b'])}, " in digest.text


async def test_two_processes_on_one_database_see_each_others_posts_as_one_story(
    tmp_path: Path, database: Location
) -> None:
    """Several `chanwatch run` processes on one PostgreSQL database each read their own
    channels: a copy read by one of a post another stored is still a copy (two pipelines
    over one database, each with its own story detector, show it on either backend)."""
    async with conversation(tmp_path, database) as c:
        first_process = await prepare(c.store)
        second_process = Feed(await Ingest.open(c.store, SilentListener(), story_window_hours=24))
        second_process.count = 10  # its posts come later
        await c.ask("/subscribe", chat_id=ALICE)
        async with delivering(c) as delivery:
            first = await first_process.post("chan_a", BASE)
            await settled(c, delivery)
            copy = await second_process.post("chan_b", BASE)
            await settled(c, delivery)
            # And back: a copy read by the first process of what the second stored.
            await second_process.post("chan_c", OTHER_EVENT)
            await first_process.post("chan_d", OTHER_EVENT + " Подписывайтесь!")
            await settled(c, delivery)
        [story, other] = sorted(
            await c.store.posts.recent(10, chat_id=ALICE), key=lambda p: p.channel_handle
        )
        assert story.copies == 1 and other.copies == 1
        assert len(alerts(c, ALICE)) == 2 and len(edits(c, ALICE)) == 2
        assert also("chan_b", copy) in edits(c, ALICE)[0].text
        assert f"chan_a/{first}" in alerts(c, ALICE)[0].text
