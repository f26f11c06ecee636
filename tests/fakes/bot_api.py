"""A local stand-in for the Telegram Bot API: a real HTTP server for tests and benchmarks.

aiogram talks to it unchanged through ``TelegramAPIServer.from_base(api.base_url)``. It keeps
chats, messages and an update queue in memory, answers with Telegram's JSON shapes and fails
the way Telegram does: HTML is parsed with the rules of TDLib's parser (same error texts and
byte offsets), length is counted in UTF-16 code units of the visible text, blocked users and
kicked bots get 403, flood limits give 429 with ``retry_after``. Tests drive it as users would
(``user_sends``, ``user_presses``, ``channel_posts``) and read what the bot did (``sent``,
``calls``, ``commands``, ``wait_for_messages``).

    async with FakeBotAPI(token="123:ABC") as api:
        bot = Bot("123:ABC", session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        await api.user_sends(101, "/start")               # the bot's Dispatcher gets it
        (answer,) = await api.wait_for_messages(1, chat_id=101)
        api.fail_next("sendMessage", 429, retry_after=3)  # the next send gets 429
        api.block(101)                                     # every send to 101 gets 403

Differences from Telegram worth knowing: Markdown is not checked; message ids count per chat;
private chats with positive ids exist without being introduced (groups and channels must be).
Run ``python -m tests.fakes.bot_api --port 8081`` for a server to try by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import re
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_PHOTO_BYTES: Final = 10 * 1024 * 1024
MAX_PHOTO_SIDES: Final = 10_000
"""A photo's width plus height may not exceed this; nor may one side be 20 times the other."""
MAX_PHOTO_RATIO: Final = 20
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_UPDATES_PER_CALL: Final = 100
DEFAULT_WAIT: Final = 5.0

JsonDict = dict[str, Any]

# Telegram leaves these out unless a bot asks for them in allowed_updates.
_NOT_DELIVERED_BY_DEFAULT: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Every right Telegram lists for an administrator (Bot API 9.x); aiogram requires them all.
_ADMIN_RIGHTS: Final = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)
_COMMAND_NAME: Final = re.compile(r"[a-z0-9_]{1,32}")
# A command in a user's text, as Telegram marks it: "/name" or "/name@bot" after a non-word.
_COMMAND_IN_TEXT: Final = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_RETRY_AFTER_IN_TEXT: Final = re.compile(r"retry after (\d+)")

NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_PNG_END: Final = b"IEND\xaeB`\x82"

GET_UPDATES_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


# ---------------------------------------------------------------------------------------------
# Telegram's HTML (a port of the rules of TDLib's parse_html, not of its code)


class EntityParseError(ValueError):
    """Text Telegram would refuse with "Bad Request: can't parse entities: <reason>"."""


_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITIES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_CHARACTERS: Final = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES: Final = frozenset(b" \t\r\f\n\v")
_NAME_TOKEN: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (entity offsets, the 4096 limit): UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_character(data: bytes, pos: int) -> tuple[str, int] | None:
    """The character an entity at data[pos] ('&') stands for and the position after it.

    Like Telegram, an ampersand that starts no known entity is just text (None).
    """
    end = pos + 1
    if data[end : end + 1] == b"#":
        end += 1
        hexadecimal = data[end : end + 1] == b"x"
        end += hexadecimal
        digits = b"0123456789abcdefABCDEF" if hexadecimal else b"0123456789"
        start = end
        while end < len(data) and data[end] in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None
        code = int(data[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        character = chr(code)
    else:
        while end < len(data) and chr(data[end]).isascii() and chr(data[end]).isalpha():
            end += 1
        known = _NAMED_CHARACTERS.get(data[pos + 1 : end])
        if known is None:
            return None
        character = known
    if data[end : end + 1] == b";":
        end += 1
    return character, end


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int
    """UTF-16 offset of the tag's content in the visible text."""
    text_start: int
    """Byte offset of the content in the visible text (for links without href)."""


def parse_html(source: str) -> tuple[str, list[JsonDict]]:
    """Visible text and entities of `source` in Telegram's HTML; EntityParseError if refused."""
    data = source.encode("utf-8")
    size = len(data)
    out = bytearray()
    utf16 = 0
    open_tags: list[_OpenTag] = []
    entities: list[JsonDict] = []
    i = 0

    def at(k: int) -> int:
        return data[k] if k < size else 0

    def skip_spaces(k: int) -> int:
        while k < size and data[k] in _SPACES:
            k += 1
        return k

    while i < size:
        byte = data[i]
        if byte == ord("&"):
            decoded = _decode_character(data, i)
            if decoded is not None:
                character, i = decoded
                out += character.encode("utf-8")
                utf16 += utf16_length(character)
                continue
        if byte != ord("<"):
            out.append(byte)
            if byte & 0xC0 != 0x80:  # the first byte of a character
                utf16 += 2 if byte >= 0xF0 else 1
            i += 1
            continue
        begin = i
        i += 1
        if at(i) != ord("/"):
            while i < size and data[i] not in _SPACES and data[i] != ord(">"):
                i += 1
            if i >= size:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                i = skip_spaces(i)
                if i >= size:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if at(i) == ord(">"):
                    break
                name_begin = i
                while i < size and data[i] not in _SPACES and data[i] not in b"=>":
                    i += 1
                attribute = data[name_begin:i].decode("utf-8", "replace")
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                i = skip_spaces(i)
                if at(i) != ord("=") and (tag, attribute) == ("blockquote", "expandable"):
                    argument = "expandable"  # the one attribute Telegram takes without a value
                    continue
                if at(i) != ord("="):
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i = skip_spaces(i + 1)
                if i >= size:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if data[i] not in b"'\"":
                    token_begin = i
                    while i < size and data[i] in _NAME_TOKEN:
                        i += 1
                    value = data[token_begin:i].decode("ascii").lower()
                    if i < size and data[i] not in _SPACES and data[i] != ord(">"):
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = data[i]
                    i += 1
                    raw = bytearray()
                    while i < size and data[i] != quote:
                        if data[i] == ord("&"):
                            decoded = _decode_character(data, i)
                            if decoded is not None:
                                raw += decoded[0].encode("utf-8")
                                i = decoded[1]
                                continue
                        raw.append(data[i])
                        i += 1
                    i += i < size  # the closing quote
                    value = raw.decode("utf-8", "replace")
                if i >= size:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                argument = _tag_argument(tag, attribute, value, argument)
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            open_tags.append(_OpenTag(tag, argument, utf16, len(out)))
            i += 1
            continue
        # An end tag.
        if not open_tags:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        i += 1
        while i < size and data[i] not in _SPACES and data[i] != ord(">"):
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", "replace")
        i = skip_spaces(i)
        if at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        opened = open_tags.pop()
        if end_name and end_name.lower() != opened.name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.name}>", '
                f'found "</{end_name}>"'
            )
        i += 1
        entity = _entity(opened, utf16 - opened.offset, bytes(out[opened.text_start :]))
        if entity is not None:
            _add_entity(entities, entity)
    if open_tags:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{open_tags[-1].name}"'
        )
    entities = _without_code_languages(entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.decode("utf-8", "replace"), entities


def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "expandable"
    return current


def _entity(tag: _OpenTag, length: int, inner: bytes) -> JsonDict | None:
    if tag.name == "tg-emoji" and (not tag.argument.isdigit() or int(tag.argument) == 0):
        raise EntityParseError("Invalid custom emoji identifier specified")
    if length == 0:
        return None
    entity: JsonDict = {"offset": tag.offset, "length": length}
    if tag.name in _SIMPLE_ENTITIES:
        entity["type"] = _SIMPLE_ENTITIES[tag.name]
    elif tag.name == "a":
        url = tag.argument or inner.decode("utf-8", "replace")
        user = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user is not None:
            entity |= {"type": "text_mention", "user": _user_json(int(user[1]), None, None)}
        else:
            entity |= {"type": "text_link", "url": url}
    elif tag.name == "blockquote":
        entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
    else:  # tg-emoji
        entity |= {"type": "custom_emoji", "custom_emoji_id": tag.argument}
    if tag.name == "code" and tag.argument:
        entity["language"] = tag.argument
    return entity


def _add_entity(entities: list[JsonDict], entity: JsonDict) -> None:
    """Keep `entity`; <pre><code class="language-x"> makes one pre entity with a language."""
    if entity["type"] == "pre" and entities:
        inner = entities[-1]
        same_range = (inner["offset"], inner["length"]) == (entity["offset"], entity["length"])
        if inner["type"] == "code" and "language" in inner and same_range:
            entities[-1] = entity | {"language": inner["language"]}
            return
    entities.append(entity)


def _without_code_languages(entities: list[JsonDict]) -> list[JsonDict]:
    # A language only means something on a pre; a lone <code class="language-x"> is plain code.
    return [
        {k: v for k, v in e.items() if k != "language"} if e["type"] == "code" else e
        for e in entities
    ]


# ---------------------------------------------------------------------------------------------
# What the fake records


@dataclass(frozen=True)
class SentMessage:
    """A message of the bot as it stood after one call (a send or an edit)."""

    method: str
    chat_id: int
    message_id: int
    text: str
    """The text as the bot sent it (HTML source when parse_mode is HTML)."""
    parse_mode: str | None
    reply_markup: JsonDict | None
    disable_notification: bool
    at: float
    """The fake's clock (time.monotonic() unless given another) when it accepted the call."""
    visible_text: str
    """The text users see: markup parsed away, entities resolved."""
    entities: tuple[JsonDict, ...] = ()
    edits: int = 0
    """How many edits came before this version (0 for the message as first sent)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Every parameter of the call as received (complex ones as JSON text)."""
    photo: bytes | None = None
    """sendPhoto: the image as uploaded (`text` is then the caption)."""
    photo_size: tuple[int, int] | None = None
    """sendPhoto: (width, height) read from the image."""

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button with callback data, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [
            (button["text"], button["callback_data"])
            for row in rows
            for button in row
            if "callback_data" in button
        ]

    def button(self, label_part: str) -> str:
        """Callback data of the one button whose label contains `label_part`."""
        found = [data for label, data in self.buttons() if label_part in label]
        if len(found) != 1:
            raise LookupError(f"{len(found)} buttons match {label_part!r}: {self.buttons()}")
        return found[0]


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request and how the fake answered it."""

    method: str
    """Telegram's spelling (sendMessage), whatever case the request used."""
    params: Mapping[str, str]
    at: float
    status: int
    description: str | None
    """Telegram's error description; None when the call succeeded."""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class CallbackAnswer:
    """answerCallbackQuery as the bot called it."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    at: float
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    migrate_to_chat_id: int | None
    chat_id: int | None


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    admins: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)
    creator: int | None = None
    bot_is_admin: bool = False
    blocked: bool = False
    gone: bool = False
    migrated_to: int | None = None
    next_message_id: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def json(self) -> JsonDict:
        result: JsonDict = {"id": self.id, "type": self.type}
        if self.type == "private":
            result["first_name"] = self.first_name or f"User{self.id}"
        else:
            result["title"] = self.title or f"Chat {self.id}"
        if self.username:
            result["username"] = self.username
        return result


@dataclass
class _StoredMessage:
    """A message in a chat, the bot's or a user's; bot messages track their latest version."""

    chat_id: int
    message_id: int
    from_bot: bool
    latest: SentMessage | None
    json: JsonDict


def _user_json(user_id: int, first_name: str | None, username: str | None) -> JsonDict:
    user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
    if username:
        user["username"] = username
    return user


class ApiError(Exception):
    """A failure answered the way Telegram answers it."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        parameters: JsonDict = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def _bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


# ---------------------------------------------------------------------------------------------
# Flood limits


class _FloodLimiter:
    """Telegram's documented limits as sliding windows on time.monotonic().

    A 429 tells the bot to wait retry_after seconds; coming back sooner is answered 429 again
    and counted as a violation (Telegram would make the wait longer).
    """

    def __init__(
        self, global_per_second: int, per_chat_per_second: int, per_group_per_minute: int
    ):
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        self._all: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}
        self._groups: dict[int, deque[float]] = {}
        self._wait_until: dict[int | None, float] = {}
        """chat id (None: every chat) -> when the last retry_after given for it runs out."""

    def check(self, chat_id: int, in_group: bool, now: float) -> tuple[int, bool] | None:
        """None if a send may go now (and count it); else (retry_after, was a violation)."""
        until = max(self._wait_until.get(None, 0.0), self._wait_until.get(chat_id, 0.0))
        if now < until:
            return max(1, math.ceil(until - now)), True
        waits: list[tuple[float, int | None]] = []
        everyone = _trimmed(self._all, now, 1.0)
        if len(everyone) >= self.global_per_second:
            waits.append((everyone[0] + 1.0 - now, None))
        chat = _trimmed(self._chats.setdefault(chat_id, deque()), now, 1.0)
        if len(chat) >= self.per_chat_per_second:
            waits.append((chat[0] + 1.0 - now, chat_id))
        group = _trimmed(self._groups.setdefault(chat_id, deque()), now, 60.0)
        if in_group and len(group) >= self.per_group_per_minute:
            waits.append((group[0] + 60.0 - now, chat_id))
        if waits:
            wait, scope = max(waits, key=lambda w: w[0])
            retry_after = max(1, math.ceil(wait))
            self._wait_until[scope] = now + retry_after
            return retry_after, False
        everyone.append(now)
        chat.append(now)
        if in_group:
            group.append(now)
        return None


def _trimmed(window: deque[float], now: float, span: float) -> deque[float]:
    while window and window[0] <= now - span:
        window.popleft()
    return window


# ---------------------------------------------------------------------------------------------
# The server

_Handler = Callable[[dict[str, str]], Awaitable[Any]]


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    filename: str | None
    content_type: str
    data: bytes


_UploadHandler = Callable[[dict[str, str], dict[str, UploadedFile]], Awaitable[Any]]


class FakeBotAPI:
    """The Bot API on 127.0.0.1 for one bot. See the module docstring."""

    def __init__(
        self,
        token: str | None = None,
        *,
        username: str = "fake_test_bot",
        first_name: str = "Fake Bot",
        enforce_limits: bool = False,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        latency: float = 0.0,
    ) -> None:
        """`token` None accepts any token shaped like Telegram's ("<bot id>:<secret>").
        `clock` stamps records and drives the flood limits (tests may pass a fake one).
        `latency` seconds pass before every answer, like a round trip to Telegram."""
        self.token = token
        self.username = username
        self.first_name = first_name
        self.bot_id = int(token.split(":", 1)[0]) if token and token[0].isdigit() else 0
        self.enforce_limits = enforce_limits
        self.limits = _FloodLimiter(global_per_second, per_chat_per_second, per_group_per_minute)
        self.host = host
        self.port = port
        self._clock = clock
        self.latency = latency
        self.base_url = ""

        self.sent: list[SentMessage] = []
        """Every message the bot sent, as sent, in order."""
        self.edits: list[SentMessage] = []
        """Every accepted edit, as the message stood after it."""
        self.deleted: list[tuple[int, int]] = []
        """(chat_id, message_id) of every message the bot deleted."""
        self.calls: list[ApiCall] = []
        """Every request with a valid token and known method, in the order they finished."""
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        """setMyCommands lists for the default language, keyed by the scope as JSON with
        sorted keys ('{"type": "default"}' when the bot gave none)."""
        self.commands_by_language: dict[tuple[str, str], list[dict[str, str]]] = {}
        """Every setMyCommands list by (scope JSON, language_code); "" is the default."""
        self.rate_limited = 0
        """429s the flood limiter answered (faults from fail_next are not counted)."""
        self.limit_violations = 0
        """Sends that came back before the retry_after they were given had passed."""

        self._chats: dict[int, _Chat] = {}
        self._sent_to: dict[int, list[SentMessage]] = {}
        """`sent` by chat, so waiting on one chat's messages stays cheap in benchmarks."""
        self._messages: dict[tuple[int, int], _StoredMessage] = {}
        self._users: dict[int, JsonDict] = {}
        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._open_queries: dict[str, int] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._poller: object | None = None
        self._faults: list[_Fault] = []
        self._delays: list[tuple[str, float]] = []
        self.received: list[str] = []
        """Methods of the requests received, in order, also those not answered yet (a
        delayed one is in flight from the bot's side)."""
        self._changed = asyncio.Condition()
        self._closing = False
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "logOut": self._always_true,
            "close": self._always_true,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "sendChatAction": self._send_chat_action,
        }
        # Methods that take uploaded files (multipart/form-data parts) besides parameters.
        self._upload_handlers: dict[str, _UploadHandler] = {"sendPhoto": self._send_photo}
        self._photos: dict[str, tuple[bytes, tuple[int, int]]] = {}
        """Uploaded photos by the file_id the fake gave them (sendPhoto may reuse one)."""
        self._method_names = {
            name.lower(): name for name in (*self._handlers, *self._upload_handlers)
        }

    # Lifecycle

    async def start(self) -> None:
        self._closing = False
        self._stopped.clear()
        app = web.Application()
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        # Long polls still waiting end now, so shutting the server down does not wait for them.
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._stopped.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Setting the scene

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JsonDict:
        """A user (and their private chat with the bot); returns the User object."""
        user = _user_json(user_id, first_name, username)
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is None:
            self._chats[user_id] = _Chat(
                user_id, "private", first_name=user["first_name"], username=username
            )
        else:
            chat.first_name, chat.username = user["first_name"], username
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        admins: Iterable[int] = (),
        *,
        chat_type: str | None = None,
        members: Iterable[int] = (),
        username: str | None = None,
        bot_is_admin: bool = False,
    ) -> None:
        """A group with the bot in it. The first admin is its creator. The type defaults to
        "supergroup" for ids like -100..., else "group" (as Telegram numbers them)."""
        if chat_type is None:
            chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        if chat_type not in ("group", "supergroup"):
            raise ValueError(f"a group is 'group' or 'supergroup', not {chat_type!r}")
        admin_ids = list(admins)
        self._chats[chat_id] = _Chat(
            chat_id,
            chat_type,
            title=title,
            username=username,
            admins=set(admin_ids),
            members=set(admin_ids) | set(members),
            creator=admin_ids[0] if admin_ids else None,
            bot_is_admin=bot_is_admin,
        )

    async def add_bot_to_channel(
        self,
        chat_id: int,
        title: str,
        *,
        username: str | None = None,
        by_user: int | None = None,
    ) -> JsonDict | None:
        """The bot becomes an admin of a channel (only admins see its posts). With `by_user`
        the bot gets the my_chat_member update Telegram sends; that update is returned."""
        self._chats[chat_id] = _Chat(
            chat_id, "channel", title=title, username=username, bot_is_admin=True
        )
        if by_user is None:
            return None
        return await self.my_chat_member(
            chat_id, new_status="administrator", old_status="left", user_id=by_user
        )

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: every send to them is 403 until they write to it again."""
        self._chat(chat_id).blocked = True

    def unblock(self, chat_id: int) -> None:
        self._chat(chat_id).blocked = False

    def delete_chat(self, chat_id: int) -> None:
        """The bot loses the chat: kicked from a group or channel; a user deletes the account."""
        self._chat(chat_id).gone = True

    def migrate_group(self, chat_id: int, new_chat_id: int) -> None:
        """A group becomes a supergroup: sends to the old id are 400 with migrate_to_chat_id."""
        old = self._chat(chat_id)
        old.migrated_to = new_chat_id
        self._chats[new_chat_id] = replace(
            old,
            id=new_chat_id,
            type="supergroup",
            admins=set(old.admins),
            members=set(old.members),
            migrated_to=None,
            next_message_id=itertools.count(1),
        )

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        times: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (to `chat_id`, if given) with this error.

        Descriptions default to Telegram's: 429 "Too Many Requests: retry after N" (N is
        `retry_after`, default 1), 5xx "Bad Gateway"/"Internal Server Error"/...
        """
        if status == 429 and retry_after is None:
            found = _RETRY_AFTER_IN_TEXT.search(description or "")
            retry_after = int(found[1]) if found else 1
        if description is None:
            description = _default_description(status, retry_after)
        canonical = self._method_names.get(method.lower(), method)
        fault = _Fault(canonical, status, description, retry_after, migrate_to_chat_id, chat_id)
        self._faults.extend([fault] * times)

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` are answered (normally) `seconds` late: a slow
        Telegram, for client timeouts and cancellation."""
        canonical = self._method_names.get(method.lower(), method)
        self._delays.extend([(canonical, seconds)] * times)

    # What users do

    async def user_sends(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        title: str | None = None,
        language_code: str | None = None,
    ) -> JsonDict:
        """A user writes `text` in a chat with the bot; returns the update the bot will get.

        In a private chat the user is the chat (user_id defaults to chat_id). A chat the fake
        does not know yet is created: private for positive ids, else of `chat_type`.
        Commands get bot_command entities the way Telegram marks them. `language_code` is the
        language of the user's Telegram app, as Telegram sends it in `from` (kept for later
        messages of the same user, like the app's setting).
        """
        chat = self._chats.get(chat_id)
        if chat is None:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            if kind == "private":
                self.add_user(chat_id, first_name=first_name, username=username)
            elif kind == "channel":
                raise ValueError("users do not write in channels; use channel_posts")
            else:
                self.add_group(chat_id, title or f"Group {chat_id}", chat_type=kind)
            chat = self._chats[chat_id]
        elif chat_type is not None and chat_type != chat.type:
            raise ValueError(f"chat {chat_id} is a {chat.type}, not a {chat_type}")
        if chat.type == "private":
            if user_id not in (None, chat_id):
                raise ValueError("in a private chat the user is the chat: user_id == chat_id")
            user_id = chat_id
            chat.blocked = False  # writing to a bot unblocks it
        elif user_id is None:
            raise ValueError(f"say which user writes in {chat.type} {chat_id}: user_id=")
        elif chat.type == "channel":
            raise ValueError("users do not write in channels; use channel_posts")
        user = self._user(
            user_id, first_name=first_name, username=username, language_code=language_code
        )
        chat.members.add(user_id)
        message = self._store_message(chat, user, text)
        return await self._push("message", message)

    async def channel_posts(
        self, chat_id: int, text: str, *, title: str | None = None
    ) -> JsonDict:
        """A post in a channel where the bot is an admin; returns the channel_post update."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(
                chat_id, "channel", title=title or f"Channel {chat_id}", bot_is_admin=True
            )
        if chat.type != "channel":
            raise ValueError(f"chat {chat_id} is a {chat.type}, not a channel")
        post = self._store_message(chat, None, text)
        return await self._push("channel_post", post)

    async def user_presses(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        require_button: bool = True,
    ) -> JsonDict:
        """A user presses an inline button of a bot message; returns the callback_query update
        (its ["callback_query"]["id"] is what the bot answers). The button must be on the
        message as it stands now unless require_button=False."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.latest is None:
            raise LookupError(f"the bot sent no message {message_id} to {chat_id}")
        if require_button and data not in [d for _, d in stored.latest.buttons()]:
            raise LookupError(
                f"message {message_id} has no button {data!r}: {stored.latest.buttons()}"
            )
        chat = self._chats[chat_id]
        if user_id is None:
            if chat.type != "private":
                raise ValueError(f"say which user presses in {chat.type} {chat_id}: user_id=")
            user_id = chat_id
        query_id = str(next(self._query_ids) * 7919 + 100_000)
        self._open_queries[query_id] = chat_id
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": stored.json,
            "chat_instance": str(abs(chat_id) * 31 + 7),
            "data": data,
        }
        return await self._push("callback_query", query)

    async def my_chat_member(
        self,
        chat_id: int,
        *,
        new_status: str,
        old_status: str = "left",
        user_id: int | None = None,
    ) -> JsonDict:
        """The bot's status in a chat changes ("member", "administrator", "left", "kicked");
        returns the my_chat_member update. In a private chat "kicked" means blocked."""
        chat = self._chat(chat_id)
        actor = user_id if user_id is not None else chat_id
        if chat.type == "private":
            chat.blocked = new_status == "kicked"
        else:
            chat.gone = new_status in ("left", "kicked")
            chat.bot_is_admin = new_status == "administrator"
        update = {
            "chat": chat.json(),
            "from": self._user(actor),
            "date": int(time.time()),
            "old_chat_member": self._member_json(self._bot_user(), old_status),
            "new_chat_member": self._member_json(self._bot_user(), new_status),
        }
        return await self._push("my_chat_member", update)

    # What tests read

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """The messages the bot sent to a chat, as sent, in order."""
        return list(self._sent_to.get(chat_id, ()))

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """A bot message as it stands now (after its edits)."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.latest is None:
            raise LookupError(f"the bot sent no message {message_id} to {chat_id}")
        return stored.latest

    def calls_of(self, method: str) -> list[ApiCall]:
        wanted = self._method_names.get(method.lower(), method)
        return [call for call in self.calls if call.method == wanted]

    @property
    def long_polling(self) -> bool:
        """A getUpdates call is waiting for updates right now."""
        return self._poller is not None

    @property
    def pending_updates(self) -> int:
        """Updates the bot has not confirmed yet."""
        return len(self._updates)

    def sends_per_second(self) -> list[int]:
        """Accepted sends in each whole second since the first one (for throughput)."""
        if not self.sent:
            return []
        first = self.sent[0].at
        counts = [0] * (int(self.sent[-1].at - first) + 1)
        for message in self.sent:
            counts[int(message.at - first)] += 1
        return counts

    async def wait_until(
        self,
        ready: Callable[[], bool],
        what: str,
        *,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
    ) -> None:
        """Wait (on events, not a sleep loop) until ready() holds; TimeoutError naming `what`
        and the last failed calls if it does not within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            failures = [f"{c.method} {c.status} {c.description}" for c in self.calls if not c.ok][
                -5:
            ]
            raise TimeoutError(
                f"the bot never {what} within {timeout}s"
                + (f"; last failed calls: {failures}" if failures else "")
            ) from None

    async def wait_for_messages(
        self,
        count: int = 1,
        *,
        chat_id: int | None = None,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until the bot has sent `count` messages (to `chat_id`, if given); returns all
        it has sent there so far."""

        def sent() -> list[SentMessage]:
            return self.sent if chat_id is None else self._sent_to.get(chat_id, [])

        where = "" if chat_id is None else f" to {chat_id}"
        await self.wait_until(
            lambda: len(sent()) >= count, f"sent {count} messages{where}", timeout=timeout
        )
        return list(sent())

    async def wait_for_answer(
        self,
        query: str | JsonDict,
        *,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Wait for the bot's answerCallbackQuery to a query id or a user_presses update."""
        if isinstance(query, dict):
            query = str(query["callback_query"]["id"])
        query_id = query
        await self.wait_until(
            lambda: query_id in self.callback_answers,
            f"answered query {query_id}",
            timeout=timeout,
        )
        return self.callback_answers[query_id]

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109
    ) -> list[ApiCall]:
        """Wait until `method` has been called `count` times (answered or not)."""
        await self.wait_until(
            lambda: len(self.calls_of(method)) >= count, f"called {method}", timeout=timeout
        )
        return self.calls_of(method)

    # Internals shared by both sides

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id <= 0:
                raise LookupError(f"no chat {chat_id}; add_group or add_bot_to_channel first")
            self.add_user(chat_id)
            chat = self._chats[chat_id]
        return chat

    def _user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JsonDict:
        user = self._users.get(user_id)
        if user is None or (first_name or username or language_code):
            known = user or {}
            user = _user_json(
                user_id, first_name or known.get("first_name"), username or known.get("username")
            )
            language = language_code or known.get("language_code")
            if language:
                user["language_code"] = language
            self._users[user_id] = user
        return user

    def _bot_user(self) -> JsonDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _member_json(self, user: JsonDict, status: str) -> JsonDict:
        member: JsonDict = {"status": status, "user": user}
        if status == "administrator":
            member |= dict.fromkeys(_ADMIN_RIGHTS, True)
            member["can_be_edited"] = member["is_anonymous"] = False
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _store_message(self, chat: _Chat, user: JsonDict | None, text: str) -> JsonDict:
        message: JsonDict = {
            "message_id": next(chat.next_message_id),
            "date": int(time.time()),
            "chat": chat.json(),
            "text": text,
        }
        if user is not None:
            message["from"] = user
        else:
            message["sender_chat"] = chat.json()
        entities = [
            {"type": "bot_command", "offset": utf16_length(text[: m.start()]),
             "length": utf16_length(m[0])}
            for m in _COMMAND_IN_TEXT.finditer(text)
        ]  # fmt: skip
        if entities:
            message["entities"] = entities
        key = (chat.id, message["message_id"])
        self._messages[key] = _StoredMessage(chat.id, message["message_id"], False, None, message)
        return message

    async def _push(self, kind: str, payload: JsonDict) -> JsonDict:
        update = {"update_id": next(self._update_ids), kind: payload}
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    # The Bot API side

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not self._token_ok(token):
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        method = self._method_names.get(request.match_info["method"].lower())
        if method is None:
            logger.warning("fake Bot API: no method %s", request.match_info["method"])
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        if self.token is None:
            self.bot_id = int(token.split(":", 1)[0])
        params, files = await _read_params(request)
        async with self._changed:
            self.received.append(method)
            self._changed.notify_all()
        try:
            await self._delay(method)
            self._raise_fault(method, params)
            upload = self._upload_handlers.get(method)
            if upload is not None:
                result = await upload(params, files)
            elif files:
                raise _bad_request(f"{method} takes no files")
            else:
                result = await self._handlers[method](params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        except (KeyError, ValueError, TypeError) as error:
            # Reading a parameter failed: the bot sent something Telegram would refuse.
            logger.warning("fake Bot API: %s refused %s", method, params, exc_info=True)
            failure = _bad_request(f"invalid parameter: {error}")
            status, body = 400, failure.body()
        async with self._changed:
            self.calls.append(
                ApiCall(method, params, self._clock(), status, body.get("description"))
            )
            self._changed.notify_all()
        return web.json_response(body, status=status)

    def _token_ok(self, token: str) -> bool:
        if self.token is not None:
            return token == self.token
        bot_id, colon, secret = token.partition(":")
        return bot_id.isdigit() and bool(colon) and bool(secret)

    async def _delay(self, method: str) -> None:
        seconds = self.latency
        for index, (delayed, extra) in enumerate(self._delays):
            if delayed == method:
                del self._delays[index]
                seconds += extra
                break
        if seconds > 0:
            # Cut short by stop(), so a stalled call never holds up shutting the server down.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._stopped.wait()

    def _raise_fault(self, method: str, params: Mapping[str, str]) -> None:
        for index, fault in enumerate(self._faults):
            if fault.method != method:
                continue
            if fault.chat_id is not None and params.get("chat_id") != str(fault.chat_id):
                continue
            del self._faults[index]
            raise ApiError(
                fault.status,
                fault.description,
                retry_after=fault.retry_after,
                migrate_to_chat_id=fault.migrate_to_chat_id,
            )

    def _target(self, params: Mapping[str, str], *, sending: bool = False) -> _Chat:
        """The chat a call names, or Telegram's error for it."""
        raw = params.get("chat_id", "").strip()
        if not raw:
            raise _bad_request("chat_id is empty")
        chat: _Chat | None
        if raw.startswith("@"):
            wanted = raw[1:].lower()
            chat = next(
                (c for c in self._chats.values() if (c.username or "").lower() == wanted), None
            )
            if chat is not None and chat.type == "private":
                chat = None  # @username addresses channels and public groups, never users
        else:
            try:
                chat_id = int(raw)
            except ValueError:
                raise _bad_request("chat not found") from None
            chat = self._chats.get(chat_id)
            if chat is None and chat_id > 0:
                # A user who has started the bot; tests need not introduce every user.
                chat = self._chat(chat_id)
        if chat is None:
            raise _bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.gone:
            raise ApiError(403, _gone_description(chat))
        if sending and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _accept_send(self, chat: _Chat) -> None:
        if not self.enforce_limits:
            return
        verdict = self.limits.check(chat.id, chat.type in ("group", "supergroup"), self._clock())
        if verdict is None:
            return
        retry_after, violation = verdict
        self.rate_limited += 1
        self.limit_violations += violation
        raise ApiError(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    async def _always_true(self, params: dict[str, str]) -> bool:
        return True

    async def _get_me(self, params: dict[str, str]) -> JsonDict:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _delete_webhook(self, params: dict[str, str]) -> bool:
        if _flag(params, "drop_pending_updates"):
            async with self._changed:
                self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, str]) -> JsonDict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _get_updates(self, params: dict[str, str]) -> list[JsonDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or MAX_UPDATES_PER_CALL), 1), MAX_UPDATES_PER_CALL)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params:
            allowed = json.loads(params["allowed_updates"])
            self._allowed_updates = frozenset(allowed) if allowed else None
        me = object()
        async with self._changed:
            # A newer getUpdates ends the one still waiting, as on Telegram.
            self._poller = me
            self._changed.notify_all()
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if self._poller is not me:
                    raise ApiError(409, GET_UPDATES_CONFLICT)
                ready = [u for u in self._updates if self._deliverable(u)][:limit]
                left = deadline - loop.time()
                if ready or self._closing or left <= 0:
                    if self._poller is me:
                        self._poller = None
                    return ready
                try:
                    async with asyncio.timeout(left):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    def _deliverable(self, update: JsonDict) -> bool:
        kind = next(key for key in update if key != "update_id")
        if self._allowed_updates is None:
            return kind not in _NOT_DELIVERED_BY_DEFAULT
        return kind in self._allowed_updates

    def _text_of(
        self, params: Mapping[str, str], *, caption: bool = False
    ) -> tuple[str, list[JsonDict], str | None]:
        """Visible text, entities and parse mode of a text in a call (or of a media
        caption, which may be empty), checked like Telegram."""
        text = params.get("caption" if caption else "text", "")
        parse_mode = params.get("parse_mode") or None
        if caption and not text:
            return "", [], parse_mode
        if not text:
            raise _bad_request("message text is empty")
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                visible, entities = parse_html(text)
            except EntityParseError as error:
                raise _bad_request(f"can't parse entities: {error}") from None
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not checked: chanwatch sends HTML; the text counts as it is.
            visible = text
            given = params.get("caption_entities" if caption else "entities")
            entities = json.loads(given) if given else []
        else:
            raise _bad_request("unsupported parse_mode")
        if not visible.strip():
            raise _bad_request("message text is empty")
        return visible, entities, parse_mode

    def _markup_of(self, params: Mapping[str, str]) -> JsonDict | None:
        raw = params.get("reply_markup")
        if not raw:
            return None
        try:
            markup = json.loads(raw)
        except json.JSONDecodeError:
            raise _bad_request("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
        return markup

    def _message_json(self, chat: _Chat, version: SentMessage, date: int) -> JsonDict:
        message: JsonDict = {
            "message_id": version.message_id,
            "from": self._bot_user(),
            "chat": chat.json(),
            "date": date,
            "text": version.visible_text,
        }
        if chat.type == "channel":
            del message["from"]
            message["sender_chat"] = chat.json()
        if version.entities:
            message["entities"] = list(version.entities)
        if version.reply_markup and "inline_keyboard" in version.reply_markup:
            message["reply_markup"] = version.reply_markup
        if version.edits:
            message["edit_date"] = int(time.time())
        return message

    async def _send_message(self, params: dict[str, str]) -> JsonDict:
        visible, entities, _mode = self._text_of(params)
        markup = self._markup_of(params)
        chat = self._target(params, sending=True)
        if utf16_length(visible) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        self._accept_send(chat)
        version = self._version(
            "sendMessage", chat, next(chat.next_message_id), params, visible, entities, markup
        )
        message = self._message_json(chat, version, int(time.time()))
        await self._record_sent(chat, version, message)
        return message

    def _version(
        self,
        method: str,
        chat: _Chat,
        message_id: int,
        params: Mapping[str, str],
        visible: str,
        entities: list[JsonDict],
        markup: JsonDict | None,
    ) -> SentMessage:
        """A sent message as the bot sent it (text or caption, as the call gave it)."""
        return SentMessage(
            method=method,
            chat_id=chat.id,
            message_id=message_id,
            text=params.get("text", params.get("caption", "")),
            parse_mode=params.get("parse_mode") or None,
            reply_markup=markup,
            disable_notification=_flag(params, "disable_notification"),
            at=self._clock(),
            visible_text=visible,
            entities=tuple(entities),
            params=dict(params),
        )

    async def _record_sent(self, chat: _Chat, version: SentMessage, message: JsonDict) -> None:
        async with self._changed:
            self.sent.append(version)
            self._sent_to.setdefault(chat.id, []).append(version)
            self._messages[(chat.id, version.message_id)] = _StoredMessage(
                chat.id, version.message_id, True, version, message
            )
            self._changed.notify_all()

    def _editable(self, params: Mapping[str, str]) -> tuple[_Chat, _StoredMessage]:
        if "inline_message_id" in params:
            raise _bad_request("MESSAGE_ID_INVALID")
        chat = self._target(params, sending=True)
        raw_id = params.get("message_id", "")
        if not raw_id:
            raise _bad_request("message identifier is not specified")
        stored = self._messages.get((chat.id, int(raw_id)))
        if stored is None:
            raise _bad_request("message to edit not found")
        if stored.latest is None:
            raise _bad_request("message can't be edited")
        return chat, stored

    async def _edit(
        self, method: str, chat: _Chat, stored: _StoredMessage, changes: dict[str, Any]
    ) -> JsonDict:
        assert stored.latest is not None
        current = stored.latest
        candidate = replace(current, **changes)
        if (candidate.visible_text, candidate.entities, candidate.reply_markup) == (
            current.visible_text,
            current.entities,
            current.reply_markup,
        ):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        version = replace(candidate, method=method, at=self._clock(), edits=current.edits + 1)
        message = self._message_json(chat, version, stored.json["date"])
        async with self._changed:
            stored.latest, stored.json = version, message
            self.edits.append(version)
            self._changed.notify_all()
        return message

    async def _edit_message_text(self, params: dict[str, str]) -> JsonDict:
        visible, entities, parse_mode = self._text_of(params)
        markup = self._markup_of(params)
        chat, stored = self._editable(params)
        if stored.latest is not None and stored.latest.photo is not None:
            raise _bad_request("there is no text in the message to edit")
        if utf16_length(visible) > MAX_MESSAGE_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        changes = {
            "text": params["text"],
            "parse_mode": parse_mode,
            "visible_text": visible,
            "entities": tuple(entities),
            "reply_markup": markup,
            "params": dict(params),
        }
        return await self._edit("editMessageText", chat, stored, changes)

    async def _edit_message_reply_markup(self, params: dict[str, str]) -> JsonDict:
        markup = self._markup_of(params)
        chat, stored = self._editable(params)
        changes = {"reply_markup": markup, "params": dict(params)}
        return await self._edit("editMessageReplyMarkup", chat, stored, changes)

    async def _delete_message(self, params: dict[str, str]) -> bool:
        chat = self._target(params)
        key = (chat.id, int(params.get("message_id") or 0))
        stored = self._messages.get(key)
        if stored is None:
            raise _bad_request("message to delete not found")
        if not stored.from_bot and chat.type != "private" and not chat.bot_is_admin:
            raise _bad_request("message can't be deleted")
        async with self._changed:
            del self._messages[key]
            self.deleted.append(key)
            self._changed.notify_all()
        return True

    async def _answer_callback_query(self, params: dict[str, str]) -> bool:
        query_id = params.get("callback_query_id", "")
        if self._open_queries.pop(query_id, None) is None:
            raise _bad_request(QUERY_TOO_OLD.removeprefix("Bad Request: "))
        answer = CallbackAnswer(
            query_id=query_id,
            text=params.get("text"),
            show_alert=_flag(params, "show_alert"),
            url=params.get("url"),
            cache_time=int(params.get("cache_time") or 0),
            at=self._clock(),
            params=dict(params),
        )
        async with self._changed:
            self.callback_answers[query_id] = answer
            self._changed.notify_all()
        return True

    def _scope_key(self, params: Mapping[str, str]) -> tuple[str, str]:
        scope = json.loads(params["scope"]) if params.get("scope") else {"type": "default"}
        if "chat_id" in scope:
            self._target({"chat_id": str(scope["chat_id"])})
        return json.dumps(scope, sort_keys=True), params.get("language_code", "")

    async def _set_my_commands(self, params: dict[str, str]) -> bool:
        commands = json.loads(params.get("commands") or "[]")
        if len(commands) > 100:
            raise _bad_request("too many commands")
        for command in commands:
            if not _COMMAND_NAME.fullmatch(str(command.get("command", "")).lstrip("/")):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad_request("command description is empty")
        scope, language = self._scope_key(params)
        menu = [{"command": c["command"], "description": c["description"]} for c in commands]
        async with self._changed:
            self.commands_by_language[(scope, language)] = menu
            if language == "":
                self.commands[scope] = menu
            self._changed.notify_all()
        return True

    async def _get_my_commands(self, params: dict[str, str]) -> list[dict[str, str]]:
        return list(self.commands_by_language.get(self._scope_key(params), []))

    async def _delete_my_commands(self, params: dict[str, str]) -> bool:
        scope, language = self._scope_key(params)
        async with self._changed:
            self.commands_by_language.pop((scope, language), None)
            if language == "":
                self.commands.pop(scope, None)
            self._changed.notify_all()
        return True

    async def _get_chat(self, params: dict[str, str]) -> JsonDict:
        chat = self._target(params)
        return chat.json() | {
            "accent_color_id": abs(chat.id) % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _status_in(self, chat: _Chat, user_id: int) -> str:
        if user_id == self.bot_id:
            return "administrator" if chat.bot_is_admin or chat.type == "channel" else "member"
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        if user_id == chat.creator:
            return "creator"
        if user_id in chat.admins:
            return "administrator"
        return "member" if user_id in chat.members else "left"

    async def _get_chat_member(self, params: dict[str, str]) -> JsonDict:
        chat = self._target(params)
        user_id = int(params.get("user_id") or 0)
        if user_id <= 0:
            raise _bad_request("invalid user_id specified")
        user = self._bot_user() if user_id == self.bot_id else self._user(user_id)
        return self._member_json(user, self._status_in(chat, user_id))

    async def _get_chat_administrators(self, params: dict[str, str]) -> list[JsonDict]:
        chat = self._target(params)
        if chat.type == "private":
            raise _bad_request("there are no administrators in the private chat")
        ids = sorted(chat.admins, key=lambda user_id: user_id != chat.creator)
        members = [self._member_json(self._user(i), self._status_in(chat, i)) for i in ids]
        if chat.bot_is_admin or chat.type == "channel":
            members.append(self._member_json(self._bot_user(), "administrator"))
        return members

    def _photo_of(
        self, params: Mapping[str, str], files: Mapping[str, UploadedFile]
    ) -> tuple[bytes, tuple[int, int]]:
        """The photo of a sendPhoto: an uploaded part (named `photo`, or `attach://name`),
        or the file_id of a photo sent before; checked as Telegram checks photos."""
        reference = params.get("photo", "")
        upload = files.get("photo")
        if upload is not None:
            pass
        elif reference.startswith("attach://"):
            upload = files.get(reference.removeprefix("attach://"))
            if upload is None:
                raise _bad_request("file must be non-empty")
        elif reference in self._photos:
            return self._photos[reference]
        elif not reference:
            raise _bad_request("there is no photo in the request")
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        data = upload.data
        if not data:
            raise _bad_request("file must be non-empty")
        if len(data) > MAX_PHOTO_BYTES:
            raise _bad_request("PHOTO_SAVE_FILE_INVALID")
        size = image_size(data)
        if size is None:
            raise _bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > MAX_PHOTO_SIDES or max(width, height) > MAX_PHOTO_RATIO * min(
            width, height
        ):
            raise _bad_request("PHOTO_INVALID_DIMENSIONS")
        return data, size

    async def _send_photo(
        self, params: dict[str, str], files: dict[str, UploadedFile]
    ) -> JsonDict:
        visible, entities, _mode = self._text_of(params, caption=True)
        if utf16_length(visible) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        markup = self._markup_of(params)
        chat = self._target(params, sending=True)
        data, (width, height) = self._photo_of(params, files)
        self._accept_send(chat)
        message_id = next(chat.next_message_id)
        file_id = f"AgAC{chat.id & 0xFFFF:04x}{message_id:06d}{len(self._photos):04d}"
        self._photos[file_id] = (data, (width, height))
        version = replace(
            self._version("sendPhoto", chat, message_id, params, visible, entities, markup),
            photo=data,
            photo_size=(width, height),
        )
        message = self._message_json(chat, version, int(time.time()))
        del message["text"]
        message.pop("entities", None)
        scale = min(1.0, 90 / max(width, height))
        message["photo"] = [
            {
                "file_id": f"{file_id}s",
                "file_unique_id": f"{file_id}s"[-12:],
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
                "file_size": min(len(data), 4096),
            },
            {
                "file_id": file_id,
                "file_unique_id": file_id[-12:],
                "width": width,
                "height": height,
                "file_size": len(data),
            },
        ]
        if visible:
            message["caption"] = visible
        if entities:
            message["caption_entities"] = entities
        await self._record_sent(chat, version, message)
        return message

    async def _send_chat_action(self, params: dict[str, str]) -> bool:
        self._target(params, sending=True)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True


def _gone_description(chat: _Chat) -> str:
    if chat.type == "private":
        return "Forbidden: user is deactivated"
    if chat.type == "channel":
        return "Forbidden: bot is not a member of the channel chat"
    return f"Forbidden: bot was kicked from the {chat.type} chat"


def _default_description(status: int, retry_after: int | None) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        429: f"Too Many Requests: retry after {retry_after}",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1")


async def _read_params(request: web.Request) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Parameters as Telegram reads them: query string, then a JSON, urlencoded or multipart
    body. Everything becomes text; objects and lists as JSON, like aiogram's form fields.
    File parts of a multipart body come back apart, by part name."""
    params = {key: value for key, value in request.query.items()}
    files: dict[str, UploadedFile] = {}
    if request.method != "POST" or not request.can_read_body:
        return params, files
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params |= {key: _as_text(value) for key, value in body.items() if value is not None}
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, bytes | bytearray):
            params[key] = value.decode("utf-8", "replace")
        elif isinstance(value, str):
            params[key] = value
        else:
            files[key] = UploadedFile(value.filename, value.content_type, value.file.read())
    return params, files


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG, None when the bytes are neither (or damaged)."""
    if data.startswith(PNG_SIGNATURE):
        # The first chunk must be IHDR, with its CRC right, and the file must end in IEND.
        if len(data) < 33 or data[12:16] != b"IHDR" or not data.endswith(_PNG_END):
            return None
        if zlib.crc32(data[12:29]) != int.from_bytes(data[29:33], "big"):
            return None
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return (width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        position = 2
        while position + 9 < len(data) and data[position] == 0xFF:
            marker = data[position + 1]
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height, then width
                height = int.from_bytes(data[position + 5 : position + 7], "big")
                width = int.from_bytes(data[position + 7 : position + 9], "big")
                return (width, height) if width and height else None
            position += 2 + length
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


async def _serve(port: int, token: str | None) -> None:
    api = FakeBotAPI(token, port=port)
    async with api:
        print(f"fake Bot API at {api.base_url} (token: {token or 'any'}); Ctrl+C stops it")
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Telegram Bot API for trying things.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.token))


if __name__ == "__main__":
    main()
