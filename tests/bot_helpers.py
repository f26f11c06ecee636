"""A running conversation for tests: the real dispatcher polling a Bot API on 127.0.0.1, over a
real SQLite store, with the real Delivery and DigestScheduler.

`LocalBotAPI` is a small loopback Bot API for the conversation tests: users send messages and
press buttons; the bot's calls are recorded. It keeps the shape of the shared FakeBotAPI
(tests/fakes/bot_api.py, being written) so these tests can move to it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiogram import Bot, Dispatcher
from aiogram.types import ChatMemberAdministrator
from aiohttp import web

from bot.delivery import Delivery
from bot.digests import DigestScheduler
from bot.dispatcher import build_dispatcher, make_bot
from bot.settings import BotSettings
from monitor.matching import index_lemmas
from storage import Store
from storage.models import NewMatch, PostRecord

OPERATOR: Final = 1001
ALICE: Final = 2002
BOB: Final = 3003
GROUP: Final = -100777
BOT_ID: Final = 4242
BOT_USERNAME: Final = "chanwatch_test_bot"
# Only a guard against a hung test; every wait ends as soon as its condition holds.
WAIT_LIMIT: Final = 10.0

# Every flag Telegram's ChatMemberAdministrator requires, whatever the Bot API version.
_ADMIN_RIGHTS: Final = [
    name
    for name, field_info in ChatMemberAdministrator.model_fields.items()
    if field_info.is_required() and name not in ("status", "user")
]


@dataclass
class BotMessage:
    """A message the bot sent, as it stands now (edits change it in place)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    edits: int = 0

    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(button["text"], button["callback_data"]) for row in rows for button in row]

    def button(self, label_part: str) -> str:
        """Callback data of the one button whose label contains `label_part`."""
        (data,) = [data for label, data in self.buttons() if label_part in label]
        return data


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}


class LocalBotAPI:
    def __init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(500)
        self._runner: web.AppRunner | None = None
        self._groups: dict[int, tuple[str, set[int]]] = {}
        self.base_url = ""
        self.sent: list[BotMessage] = []
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.callback_answers: dict[str, dict[str, str]] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        """setMyCommands lists by scope (JSON of the scope, "default" for none)."""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # What users do

    def add_group(self, chat_id: int, title: str, admins: Iterable[int]) -> None:
        self._groups[chat_id] = (title, set(admins))

    def _chat(self, chat_id: int, chat_type: str | None = None) -> dict[str, Any]:
        if chat_id in self._groups:
            return {"id": chat_id, "type": "supergroup", "title": self._groups[chat_id][0]}
        if chat_id < 0 and chat_type is None:
            return {"id": chat_id, "type": "channel", "title": f"Channel {chat_id}"}
        if chat_type not in (None, "private"):
            return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}

    async def _push(self, update: dict[str, Any]) -> None:
        async with self._changed:
            self._updates.append({"update_id": next(self._update_ids), **update})
            self._changed.notify_all()

    async def user_sends(
        self, chat_id: int, text: str, *, user_id: int, chat_type: str | None = None
    ) -> None:
        message = {
            "message_id": next(self._message_ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": self._chat(chat_id, chat_type),
            "from": _user(user_id),
            "text": text,
        }
        await self._push({"message": message})

    async def channel_posts(self, chat_id: int, text: str) -> None:
        """A post in a channel where the bot is an admin (only channel admins can post)."""
        chat = self._chat(chat_id)
        post = {
            "message_id": next(self._message_ids),
            "date": int(datetime.now(UTC).timestamp()),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        await self._push({"channel_post": post})

    async def user_presses(self, chat_id: int, message_id: int, data: str, *, user_id: int) -> str:
        """Press an inline button of a bot message; returns the callback query id."""
        message = self.message(chat_id, message_id)
        query_id = f"q{next(self._update_ids)}"
        query = {
            "id": query_id,
            "from": _user(user_id),
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(datetime.now(UTC).timestamp()),
                "chat": self._chat(chat_id),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"},
                "text": message.text,
            },
        }
        await self._push({"callback_query": query})
        return query_id

    # What tests observe

    def messages_to(self, chat_id: int) -> list[BotMessage]:
        return [message for message in self.sent if message.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        (found,) = [m for m in self.messages_to(chat_id) if m.message_id == message_id]
        return found

    async def _wait(self, ready: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(WAIT_LIMIT), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            raise AssertionError(f"the bot never {what}") from None

    async def wait_for_messages(self, *, chat_id: int, count: int) -> list[BotMessage]:
        await self._wait(
            lambda: len(self.messages_to(chat_id)) >= count, f"sent {count} messages to {chat_id}"
        )
        return self.messages_to(chat_id)

    async def wait_for_answer(self, query_id: str) -> dict[str, str]:
        await self._wait(lambda: query_id in self.callback_answers, f"answered {query_id}")
        return self.callback_answers[query_id]

    # The Bot API side

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        params = {key: str(value) for key, value in (await request.post()).items()}
        self.calls.append((method, params))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": f"Not Found: {method}"},
                status=404,
            )
        if method == "getupdates":
            result = await handler(params)
        else:
            async with self._changed:
                result = handler(params)
                self._changed.notify_all()
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    def _api_getme(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Chanwatch",
            "username": BOT_USERNAME,
        }

    async def _api_getupdates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", "0"))
        timeout = float(params.get("timeout", "0"))

        def pending() -> list[dict[str, Any]]:
            return [update for update in self._updates if update["update_id"] >= offset]

        async with self._changed:
            self._updates = pending()
            if not self._updates and timeout > 0:
                with suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._changed.wait_for(lambda: bool(pending()))
            return pending()

    def _message_json(self, message: BotMessage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": self._chat(message.chat_id),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Chanwatch"},
            "text": message.text,
        }
        if message.reply_markup:
            result["reply_markup"] = message.reply_markup
        return result

    def _api_sendmessage(self, params: dict[str, str]) -> dict[str, Any] | web.Response:
        text = params["text"]
        if len(text) > 4096:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message is too long",
                },
                status=400,
            )
        markup = json.loads(params["reply_markup"]) if "reply_markup" in params else None
        message = BotMessage(int(params["chat_id"]), next(self._message_ids), text, markup)
        self.sent.append(message)
        return self._message_json(message)

    def _api_editmessagetext(self, params: dict[str, str]) -> dict[str, Any] | web.Response:
        message = self.message(int(params["chat_id"]), int(params["message_id"]))
        markup = json.loads(params["reply_markup"]) if "reply_markup" in params else None
        if message.text == params["text"] and message.reply_markup == markup:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message is not modified",
                },
                status=400,
            )
        message.text = params["text"]
        message.reply_markup = markup
        message.edits += 1
        return self._message_json(message)

    def _api_answercallbackquery(self, params: dict[str, str]) -> bool:
        self.callback_answers[params["callback_query_id"]] = params
        return True

    def _api_setmycommands(self, params: dict[str, str]) -> bool:
        self.commands[params.get("scope", "default")] = json.loads(params["commands"])
        return True

    def _api_getchatmember(self, params: dict[str, str]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        admins = self._groups.get(chat_id, ("", set()))[1]
        if user_id not in admins:
            return {"status": "member", "user": _user(user_id)}
        rights = dict.fromkeys(_ADMIN_RIGHTS, True)
        return {"status": "administrator", "user": _user(user_id), **rights}


@dataclass
class Controls:
    """Stands in for the lead's pipeline: counts the change notices it gets."""

    topics: int = 0
    channels: int = 0
    fail_with: Exception | None = None

    async def topics_changed(self) -> None:
        self.topics += 1
        if self.fail_with is not None:
            raise self.fail_with

    async def channels_changed(self) -> None:
        self.channels += 1


@dataclass
class Conversation:
    api: LocalBotAPI
    store: Store
    bot: Bot
    dp: Dispatcher
    digests: DigestScheduler
    controls: Controls
    delivery: Delivery
    extra: dict[str, Any] = field(default_factory=dict)

    async def say(
        self, text: str, *, chat_id: int = ALICE, user_id: int | None = None, count: int = 1
    ) -> list[BotMessage]:
        """Send `text` as a user and return the bot's next `count` messages to that chat."""
        before = len(self.api.messages_to(chat_id))
        await self.api.user_sends(chat_id, text, user_id=chat_id if user_id is None else user_id)
        sent = await self.api.wait_for_messages(chat_id=chat_id, count=before + count)
        return sent[before : before + count]

    async def ask(self, text: str, **kwargs: Any) -> str:
        """The text of the bot's one answer to `text`."""
        (message,) = await self.say(text, **kwargs)
        return message.text

    async def press(
        self, message: BotMessage, data: str, *, user_id: int | None = None
    ) -> dict[str, str]:
        """Press a button and return the bot's callback answer (after any edit it made)."""
        query_id = await self.api.user_presses(
            message.chat_id,
            message.message_id,
            data,
            user_id=message.chat_id if user_id is None else user_id,
        )
        return await self.api.wait_for_answer(query_id)


async def store_post(
    store: Store,
    handle: str,
    post_id: int,
    text: str,
    *,
    topic: str | None = None,
    word: str | None = None,
    date: datetime | None = None,
) -> None:
    """Store a post as the pipeline would, matched to `topic` on `word` when given."""
    matches: tuple[NewMatch, ...] = ()
    if topic is not None and word is not None:
        start = text.index(word)
        matches = (NewMatch(topic, (word,), ((start, start + len(word)),)),)
    record = PostRecord(
        post_id=post_id,
        date=date or datetime(2026, 1, 1, 12, post_id % 60, tzinfo=UTC),
        text=text,
        lemmas=index_lemmas(text),
        matches=matches,
    )
    await store.posts.save(handle, [record], history=False)


@asynccontextmanager
async def conversation(tmp_path: Path) -> AsyncIterator[Conversation]:
    api = LocalBotAPI()
    await api.start()
    store = await Store.open(tmp_path / "bot.db")
    bot = make_bot("4242:TEST", api.base_url)
    delivery = Delivery(bot, store, admins=[OPERATOR])
    digests = DigestScheduler(store, delivery)
    controls = Controls()
    dp = build_dispatcher(
        store=store,
        settings=BotSettings(
            admins=frozenset({OPERATOR}), digest_time="09:00", timezone="Europe/Moscow"
        ),
        delivery=delivery,
        digests=digests,
        topics=controls,
        channels=controls,
    )
    await digests.start()
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        yield Conversation(api, store, bot, dp, digests, controls, delivery)
    finally:
        with suppress(RuntimeError):  # polling that never started cannot be stopped
            await dp.stop_polling()
        await polling
        await digests.shutdown()
        await bot.session.close()
        await store.close()
        await api.stop()
