"""The fake Bot API behaves like Telegram for a real aiogram Bot and Dispatcher."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.fakes.bot_api import FakeBotAPI, parse_html, utf16_length

TOKEN: Final = "123:ABC"
ALICE: Final = 501
BOB: Final = 502
GROUP: Final = -100200300
BOT_NAME: Final = "watch_test_bot"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, username=BOT_NAME) as api:
        yield api


def make_bot(api: FakeBotAPI, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


@asynccontextmanager
async def polling(bot: Bot, router: Router) -> AsyncIterator[Dispatcher]:
    """A real Dispatcher long-polling the fake with a short timeout."""
    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        yield dp
    finally:
        await dp.stop_polling()
        await task


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Reading the bot and sending what users send


async def test_get_me_names_the_bot_of_the_token(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, BOT_NAME, True)


async def test_a_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    other = make_bot(api, "999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await other.get_me()
    finally:
        await other.session.close()


async def test_unknown_method_json_and_get_requests_answer_like_telegram(
    api: FakeBotAPI,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/bot{TOKEN}/sendTelepathy", json={}) as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        url = f"{api.base_url}/bot{TOKEN}/sendmessage"
        body = {"chat_id": ALICE, "text": "<b>hi</b>", "parse_mode": "HTML"}
        async with http.post(url, json=body) as response:
            sent = await response.json()
        async with http.get(f"{api.base_url}/bot{TOKEN}/getMe") as response:
            me = await response.json()
    assert sent["ok"] and sent["result"]["text"] == "hi"
    assert sent["result"]["entities"] == [{"offset": 0, "length": 2, "type": "bold"}]
    assert sent["result"]["chat"] == {"id": ALICE, "type": "private", "first_name": "User501"}
    assert me["result"]["username"] == BOT_NAME
    assert [call.method for call in api.calls] == ["sendMessage", "getMe"]


async def test_start_reaches_a_handler_and_its_answer_is_recorded(
    api: FakeBotAPI, bot: Bot
) -> None:
    router = Router()
    seen: list[Message] = []

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        seen.append(message)
        await message.answer("<b>Welcome</b>", parse_mode="HTML", disable_notification=True)

    async with polling(bot, router):
        await api.user_sends(ALICE, "/start", username="alice")
        (answer,) = await api.wait_for_messages(chat_id=ALICE)
    assert answer.text == "<b>Welcome</b>" and answer.visible_text == "Welcome"
    assert (answer.method, answer.parse_mode, answer.disable_notification) == (
        "sendMessage",
        "HTML",
        True,
    )
    (message,) = seen
    assert message.from_user is not None and message.from_user.username == "alice"
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [
        ("bot_command", 0, 6)
    ]


async def test_group_commands_addressed_to_the_bot_by_name_reach_it(
    api: FakeBotAPI, bot: Bot
) -> None:
    api.add_group(GROUP, "Newsroom", admins=[ALICE])
    router = Router()

    @router.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer(f"help for {message.chat.title}")

    async with polling(bot, router):
        await api.user_sends(GROUP, "/help@some_other_bot", user_id=BOB)
        await api.user_sends(GROUP, f"/help@{BOT_NAME}", user_id=BOB)
        (answer,) = await api.wait_for_messages(chat_id=GROUP)
    assert answer.text == "help for Newsroom"
    # The command for another bot got nothing: only one answer, to the second command.
    assert len(api.messages_to(GROUP)) == 1


async def test_a_button_press_reaches_the_callback_handler(api: FakeBotAPI, bot: Bot) -> None:
    router = Router()

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        button = InlineKeyboardButton(text="Pick me", callback_data="pick:1")
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
        await message.answer("Choose", reply_markup=markup)

    @router.callback_query(F.data == "pick:1")
    async def pick(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Picked")
        await query.answer("done", show_alert=True)

    async with polling(bot, router):
        await api.user_sends(ALICE, "/menu")
        (listing,) = await api.wait_for_messages(chat_id=ALICE)
        assert listing.buttons() == [("Pick me", "pick:1")]
        with pytest.raises(LookupError, match="no button"):
            await api.user_presses(ALICE, listing.message_id, "pick:2")
        update = await api.user_presses(ALICE, listing.message_id, listing.button("Pick"))
        answer = await api.wait_for_answer(update)
    assert (answer.text, answer.show_alert) == ("done", True)
    now = api.message(ALICE, listing.message_id)
    assert (now.text, now.edits, now.reply_markup) == ("Picked", 1, None)
    assert [edit.method for edit in api.edits] == ["editMessageText"]


async def test_a_channel_post_reaches_the_channel_post_handler(api: FakeBotAPI, bot: Bot) -> None:
    channel = -100555
    await api.add_bot_to_channel(channel, "Wire", username="wire", by_user=ALICE)
    router = Router()

    @router.channel_post()
    async def post(message: Message) -> None:
        await message.answer(f"seen in {message.chat.type}")

    async with polling(bot, router):
        await api.channel_posts(channel, "/subscribe")
        (answer,) = await api.wait_for_messages(chat_id=channel)
    assert answer.text == "seen in channel"
    # A public channel can be addressed by its @username.
    sent = await bot.send_message("@wire", "by name")
    assert sent.chat.id == channel and sent.sender_chat is not None


async def test_membership_changes_arrive_as_my_chat_member(api: FakeBotAPI, bot: Bot) -> None:
    await api.add_bot_to_channel(-100555, "Wire", by_user=ALICE)
    await api.my_chat_member(BOB, new_status="kicked", old_status="member")
    channel, private = await bot.get_updates()
    assert channel.my_chat_member is not None and private.my_chat_member is not None
    assert channel.my_chat_member.new_chat_member.status == "administrator"
    assert channel.my_chat_member.from_user.id == ALICE
    assert private.my_chat_member.new_chat_member.status == "kicked"
    # A user who stopped the bot has blocked it.
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(BOB, "hi")


# Long polling


async def test_get_updates_waits_for_an_update_and_offset_confirms(
    api: FakeBotAPI, bot: Bot
) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await api.wait_until(lambda: api.long_polling, "started a long poll")
    assert not waiting.done()
    pushed = await api.user_sends(ALICE, "hello")
    (update,) = await waiting
    assert update.update_id == pushed["update_id"]
    assert update.message is not None and update.message.text == "hello"
    # Not confirmed yet: delivered again; confirmed by the next offset: gone.
    assert [u.update_id for u in await bot.get_updates()] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1) == []
    assert api.pending_updates == 0


async def test_get_updates_returns_empty_when_the_timeout_passes(bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == []


async def test_allowed_updates_filters_kinds(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(
        ALICE,
        "menu",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x")]]
        ),
    )
    await api.user_sends(ALICE, "text")
    await api.user_presses(ALICE, sent.message_id, "x")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in updates] == [True]
    # Telegram remembers the choice until the bot names other kinds.
    assert len(await bot.get_updates()) == 1
    assert len(await bot.get_updates(allowed_updates=[])) == 2


async def test_a_second_get_updates_terminates_the_first(api: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await api.wait_until(lambda: api.long_polling, "started a long poll")
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first


# Telegram's refusals


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "<b>hi</b> <script>alert(1)</script>",
            'Unsupported start tag "script" at byte offset 10',
        ),
        ("x < y", 'Unsupported start tag "" at byte offset 2'),
        ("Привет <br>", 'Unsupported start tag "br" at byte offset 13'),
        ("<b>bold <i>both</b></i>", 'Unmatched end tag at byte offset 15, expected "</i>"'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("closed</b>", "Unexpected end tag at byte offset 6"),
        ("<a href='x'", "Unclosed start tag at byte offset 0"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_bad_html_cannot_be_parsed(bot: Bot, text: str, reason: str) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(ALICE, text, parse_mode="HTML")
    assert caught.value.message.startswith(f"Bad Request: can't parse entities: {reason}")


async def test_html_telegram_accepts_passes(api: FakeBotAPI, bot: Bot) -> None:
    text = (
        "AT&T &lt;tag&gt; &#128512; <b>b</b><strong>s</strong><i>i</i><u>u</u><s>s</s>"
        '<a href="https://e.org/?a=1&amp;b=2">link</a><code>c</code>'
        '<pre><code class="language-python">x = 1</code></pre>'
        '<span class="tg-spoiler">sp</span><tg-spoiler>sp</tg-spoiler>'
        "<blockquote expandable>q</blockquote>"
    )
    message = await bot.send_message(ALICE, text, parse_mode="HTML")
    assert message.text is not None and message.text.startswith("AT&T <tag> 😀 bsius")
    kinds = {e.type: e for e in reversed(message.entities or [])}  # the first of each type
    assert kinds["text_link"].url == "https://e.org/?a=1&b=2"
    assert kinds["pre"].language == "python"
    assert {"bold", "italic", "underline", "strikethrough", "code", "spoiler"} <= set(kinds)
    assert "expandable_blockquote" in kinds
    emoji = message.text.index("😀")
    assert kinds["bold"].offset == utf16_length(message.text[:emoji]) + 3  # 😀 is 2 units
    assert api.sent[0].text == text


async def test_length_counts_visible_utf16_units_after_parsing(bot: Bot) -> None:
    await bot.send_message(ALICE, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(ALICE, "&amp;" * 4096, parse_mode="HTML")
    await bot.send_message(ALICE, "😀" * 2048)
    for text in ("a" * 4097, "😀" * 2048 + "a"):
        with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
            await bot.send_message(ALICE, text)


async def test_empty_text_is_refused(bot: Bot) -> None:
    for text in ("", "<b></b>", "  \n"):
        with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
            await bot.send_message(ALICE, text, parse_mode="HTML")


async def test_edits_and_answers_fail_like_telegram(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(ALICE, "same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("same", chat_id=ALICE, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("new", chat_id=ALICE, message_id=sent.message_id + 5)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("42")
    assert await bot.delete_message(ALICE, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ALICE, sent.message_id)
    assert api.deleted == [(ALICE, sent.message_id)]
    too_long = InlineKeyboardButton(text="x", callback_data="y" * 65)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            ALICE, "m", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[too_long]])
        )


async def test_unknown_chats_are_not_found(api: FakeBotAPI, bot: Bot) -> None:
    for chat in (GROUP, "@nobody"):
        with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
            await bot.send_message(chat, "hi")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(GROUP)


async def test_injected_429_raises_retry_after_once(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ALICE, "hi")
    assert caught.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in caught.value.message
    await bot.send_message(ALICE, "hi")
    assert [call.status for call in api.calls] == [429, 200]
    assert len(api.sent) == 1


async def test_faults_can_target_one_chat(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendmessage", 502, chat_id=BOB, times=2)
    await bot.send_message(ALICE, "fine")
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(BOB, "fails")
    await bot.send_message(BOB, "fine now")
    assert [m.chat_id for m in api.sent] == [ALICE, BOB]


async def test_a_blocked_user_is_forbidden_until_they_write_again(
    api: FakeBotAPI, bot: Bot
) -> None:
    api.block(ALICE)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(ALICE, "hi")
    await bot.send_message(BOB, "others still get messages")
    await api.user_sends(ALICE, "/start")
    await bot.send_message(ALICE, "welcome back")
    assert [m.chat_id for m in api.sent] == [BOB, ALICE]


async def test_lost_chats_are_forbidden(api: FakeBotAPI, bot: Bot) -> None:
    api.add_group(-5, "Basic", admins=[ALICE])
    api.add_group(GROUP, "Super", admins=[ALICE])
    api.delete_chat(-5)
    api.delete_chat(GROUP)
    api.delete_chat(BOB)
    with pytest.raises(TelegramForbiddenError, match="kicked from the group chat"):
        await bot.send_message(-5, "hi")
    with pytest.raises(TelegramForbiddenError, match="kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hi")
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(BOB, "hi")


async def test_a_migrated_group_points_to_its_supergroup(api: FakeBotAPI, bot: Bot) -> None:
    api.add_group(-5, "Basic", admins=[ALICE])
    api.migrate_group(-5, GROUP)
    with pytest.raises(TelegramMigrateToChat) as caught:
        await bot.send_message(-5, "hi")
    assert caught.value.migrate_to_chat_id == GROUP
    assert (await bot.send_message(GROUP, "hi")).chat.type == "supergroup"


async def test_a_slow_answer_times_the_client_out_but_the_message_still_goes(
    api: FakeBotAPI,
) -> None:
    impatient = Bot(
        TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url), timeout=0.2)
    )
    api.delay_next("sendMessage", 0.6)
    try:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(ALICE, "late")
        # As on Telegram, a request the client gave up on may still be carried out.
        (late,) = await api.wait_for_messages(chat_id=ALICE)
        await impatient.send_message(ALICE, "on time")
    finally:
        await impatient.session.close()
    assert late.text == "late" and len(api.sent) == 2


# Flood limits


async def test_limits_allow_one_message_a_second_per_chat() -> None:
    clock = FakeClock()
    async with FakeBotAPI(token=TOKEN, enforce_limits=True, clock=clock) as api:
        bot = make_bot(api)
        try:
            await bot.send_message(ALICE, "1")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(ALICE, "2")
            assert caught.value.retry_after == 1
            await bot.send_message(BOB, "another chat is not held up")
            clock.now += 0.5
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(ALICE, "too early")
            clock.now += 0.5
            await bot.send_message(ALICE, "2")
        finally:
            await bot.session.close()
    assert (api.rate_limited, api.limit_violations) == (2, 1)
    assert [m.text for m in api.messages_to(ALICE)] == ["1", "2"]
    assert api.sends_per_second() == [2, 1]


async def test_limits_cap_all_chats_together_and_each_group_per_minute() -> None:
    clock = FakeClock()
    api = FakeBotAPI(
        token=TOKEN,
        enforce_limits=True,
        global_per_second=3,
        per_group_per_minute=2,
        clock=clock,
    )
    async with api:
        api.add_group(GROUP, "Busy", admins=[ALICE])
        bot = make_bot(api)
        try:
            for chat in (1, 2, 3):
                await bot.send_message(chat, "hi")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(4, "over the global limit")
            clock.now += 1
            await bot.send_message(GROUP, "1")
            clock.now += 1
            await bot.send_message(GROUP, "2")
            clock.now += 1
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(GROUP, "3")
        finally:
            await bot.session.close()
    assert caught.value.retry_after == 58  # the first of the two leaves the minute window
    assert api.rate_limited == 2


async def test_limits_are_off_unless_asked(api: FakeBotAPI, bot: Bot) -> None:
    for n in range(5):
        await bot.send_message(ALICE, str(n))
    assert api.rate_limited == 0 and len(api.sent) == 5


# Commands and chats


async def test_commands_are_recorded_per_scope_and_language(api: FakeBotAPI, bot: Bot) -> None:
    everyone = [BotCommand(command="start", description="Begin")]
    operator = [*everyone, BotCommand(command="stats", description="Numbers")]
    await bot.set_my_commands(everyone)
    await bot.set_my_commands(operator, scope=BotCommandScopeChat(chat_id=ALICE))
    await bot.set_my_commands(everyone, language_code="ru")
    assert {json.loads(scope).get("chat_id", "all"): len(menu) for scope, menu in
            api.commands.items()} == {"all": 1, ALICE: 2}  # fmt: skip
    got = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=ALICE))
    assert [c.command for c in got] == ["start", "stats"]
    assert len(api.commands_by_language) == 3
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=ALICE))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=ALICE)) == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


async def test_chat_members_and_admins_have_telegram_shapes(api: FakeBotAPI, bot: Bot) -> None:
    api.add_group(GROUP, "Newsroom", admins=[ALICE, BOB], members=[777])
    chat = await bot.get_chat(GROUP)
    assert (chat.type, chat.title) == ("supergroup", "Newsroom")
    statuses = [(await bot.get_chat_member(GROUP, user)).status for user in (ALICE, BOB, 777, 888)]
    assert statuses == ["creator", "administrator", "member", "left"]
    admins = await bot.get_chat_administrators(GROUP)
    assert [a.user.id for a in admins] == [ALICE, BOB]
    private = await bot.get_chat(ALICE)
    assert (private.type, private.first_name) == ("private", "User501")
    assert await bot.send_chat_action(ALICE, "typing")
    with pytest.raises(TelegramBadRequest):
        await bot.send_chat_action(ALICE, "dancing")


# Waiting


async def test_waiting_for_messages_that_never_come_names_what_failed(
    api: FakeBotAPI, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(ALICE, "<oops>", parse_mode="HTML")
    with pytest.raises(TimeoutError, match=r"sent 1 messages to 501.*Unsupported start tag"):
        await api.wait_for_messages(chat_id=ALICE, timeout=0.05)


def test_parse_html_counts_offsets_in_utf16() -> None:
    text, entities = parse_html("😀 <i>ё</i> <a href='tg://user?id=7'>me</a>")
    assert text == "😀 ё me"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("italic", 3, 1),
        ("text_mention", 5, 2),
    ]


# sendPhoto: multipart uploads, checked like Telegram checks photos and captions.


def _png(width: int, height: int) -> bytes:
    """A real (blank, grey) PNG of the given size."""
    row = b"\x00" + b"\x80" * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    )


async def test_send_photo_upload_is_recorded_with_its_caption(api: FakeBotAPI, bot: Bot) -> None:
    png = _png(300, 200)
    sent = await bot.send_photo(
        ALICE, BufferedInputFile(png, "chart.png"), caption="<b>7</b> posts", parse_mode="HTML"
    )
    assert sent.photo is not None and sent.photo[-1].width == 300
    assert sent.caption == "7 posts"
    (message,) = api.messages_to(ALICE)
    assert message.method == "sendPhoto" and message.photo == png
    assert message.photo_size == (300, 200) and message.visible_text == "7 posts"
    assert message.params["photo"].startswith("attach://")
    # The file_id Telegram gave back sends the same photo again without an upload.
    again = await bot.send_photo(BOB, sent.photo[-1].file_id)
    assert api.messages_to(BOB)[0].photo == png and again.caption is None


async def test_send_photo_caption_limit_is_1024_visible_characters(
    api: FakeBotAPI, bot: Bot
) -> None:
    png = _png(50, 50)
    await bot.send_photo(ALICE, BufferedInputFile(png, "a.png"), caption="я" * 1024)
    tagged = "<b>" + "я" * 1024 + "</b>"  # tags do not count
    await bot.send_photo(ALICE, BufferedInputFile(png, "b.png"), caption=tagged, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, BufferedInputFile(png, "c.png"), caption="я" * 1025)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, BufferedInputFile(png, "d.png"), caption="😀" * 513)
    assert len(api.messages_to(ALICE)) == 2


async def test_send_photo_refuses_what_telegram_refuses(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ALICE, BufferedInputFile(b"GIF89a not a photo", "x.png"))
    damaged = bytearray(_png(40, 40))
    damaged[18] ^= 0xFF  # the width, under the header's checksum
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ALICE, BufferedInputFile(bytes(damaged), "x.png"))
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(ALICE, BufferedInputFile(_png(2100, 100), "wide.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(ALICE, "AgACnot-a-known-file")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_photo(
            ALICE, BufferedInputFile(_png(9, 9), "x.png"), caption="<b>open", parse_mode="HTML"
        )
    assert api.messages_to(ALICE) == []
