"""An in-memory Telegram for the Telethon source: channels, their history, live updates.

`FakeTelegramClient` implements the narrow `TelegramClientLike` interface with Telethon's own
TL objects (types.Channel, types.Message), and delivers live updates the way Telethon does:
it builds events from real `Update…` objects with the registered event builders and runs the
handlers whose filters accept them. Also here: a recording `PostSink` that doubles as the
`ChannelCursor` (the newest stored id per channel), and a mutable `WatchList`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import errors, events, utils
from telethon.tl import functions, types

from monitor.sources.base import IncomingPost

SAFETY_NET_SECONDS = 5.0
BASE_DATE = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
Handler = Callable[[Any], Awaitable[None]]


@dataclass
class _Failure:
    error: BaseException
    after: int = 0
    """For iter_messages: how many messages to yield before raising."""


@dataclass
class _FakeChannel:
    entity: types.Channel
    history: list[Any] = field(default_factory=list)
    next_id: int = 1


class FakeTelegramClient:
    """Public channels with histories, a connection that can drop, errors on demand."""

    def __init__(self) -> None:
        self.connected = True
        self.handlers: list[tuple[Handler, Any]] = []
        self.calls: list[str] = []
        self.joined: list[str] = []
        self.other_channel_dialogs = 0
        self.on_iter_messages: Callable[[], Awaitable[None]] | None = None
        """Awaited when an iter_messages starts: lets a test fire live updates mid catch-up."""
        self.ignores_min_id = False
        """Answer history requests with the whole channel, as one independent MTProto server
        did: a catch-up then receives posts older than it asked for."""
        self.on_join: Callable[[types.Channel], Awaitable[None]] | None = None
        """Awaited after a successful join, when Telegram starts pushing the channel's updates."""
        self._by_id: dict[int, _FakeChannel] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._join_errors: dict[str, BaseException] = {}
        self._pts = itertools.count(1)

    # -- building the world ------------------------------------------------------------------

    def add_channel(
        self, username: str | None, channel_id: int, title: str = "", *, member: bool = False
    ) -> types.Channel:
        entity = types.Channel(
            id=channel_id,
            title=title or f"Channel {username or channel_id}",
            photo=types.ChatPhotoEmpty(),
            date=BASE_DATE,
            username=username,
            access_hash=channel_id * 7,
            broadcast=True,
            left=not member,
        )
        self._by_id[channel_id] = _FakeChannel(entity)
        return entity

    def post(
        self,
        channel: types.Channel,
        text: str = "",
        *,
        grouped_id: int | None = None,
        views: int | None = None,
        date: datetime | None = None,
    ) -> types.Message:
        state = self._by_id[channel.id]
        message_id = state.next_id
        state.next_id += 1
        message = types.Message(
            id=message_id,
            peer_id=types.PeerChannel(channel.id),
            date=date or BASE_DATE + timedelta(minutes=message_id),
            message=text,
            post=True,
            grouped_id=grouped_id,
            views=views,
        )
        state.history.append(message)
        return message

    def album(self, channel: types.Channel, caption: str, items: int = 3) -> list[types.Message]:
        group = 10_000 + self._by_id[channel.id].next_id
        first = self.post(channel, caption, grouped_id=group)
        return [first, *(self.post(channel, "", grouped_id=group) for _ in range(items - 1))]

    def service(self, channel: types.Channel) -> types.MessageService:
        state = self._by_id[channel.id]
        message = types.MessageService(
            id=state.next_id,
            peer_id=types.PeerChannel(channel.id),
            date=BASE_DATE + timedelta(minutes=state.next_id),
            action=types.MessageActionPinMessage(),
        )
        state.next_id += 1
        state.history.append(message)
        return message

    def edit(self, channel: types.Channel, message_id: int, text: str) -> types.Message:
        state = self._by_id[channel.id]
        index = next(i for i, m in enumerate(state.history) if m.id == message_id)
        old = state.history[index]
        edited = types.Message(
            id=old.id,
            peer_id=old.peer_id,
            date=old.date,
            message=text,
            post=True,
            grouped_id=old.grouped_id,
            views=old.views,
            edit_date=old.date + timedelta(minutes=30),
        )
        state.history[index] = edited
        return edited

    def message(self, channel: types.Channel, message_id: int) -> Any:
        return next(m for m in self._by_id[channel.id].history if m.id == message_id)

    def fail(self, method: str, error: BaseException, *, after: int = 0) -> None:
        """The next call of `method` raises `error` (iter_messages: after `after` items)."""
        self._failures.setdefault(method, []).append(_Failure(error, after))

    def refuse_join(self, channel: types.Channel, error: BaseException | None) -> None:
        """Joining `channel` raises `error` from now on (None: joining works again)."""
        if error is None:
            self._join_errors.pop(str(channel.id), None)
        else:
            self._join_errors[str(channel.id)] = error

    def drop_connection(self) -> None:
        self.connected = False

    # -- live updates, delivered like Telethon does --------------------------------------------

    async def dispatch_new(self, message: Any) -> None:
        await self._dispatch(types.UpdateNewChannelMessage(message, next(self._pts), 1))

    async def dispatch_edit(self, message: Any) -> None:
        await self._dispatch(types.UpdateEditChannelMessage(message, next(self._pts), 1))

    async def dispatch_album(self, messages: Sequence[types.Message]) -> None:
        # Telegram sends each item as its own update; Telethon later merges them into one
        # Album event (its "AlbumHack"), which is what the last step stands for.
        for message in messages:
            await self.dispatch_new(message)
        await self._run_handlers(events.Album, events.Album.Event(list(messages)))

    async def _dispatch(self, update: Any) -> None:
        for callback, builder in list(self.handlers):
            event = type(builder).build(update, None, 1)
            if event is not None:
                await self._run_one(callback, builder, event)

    async def _run_handlers(self, builder_type: type, event: Any) -> None:
        for callback, builder in list(self.handlers):
            if type(builder) is builder_type:
                await self._run_one(callback, builder, event)

    async def _run_one(self, callback: Handler, builder: Any, event: Any) -> None:
        await builder.resolve(self)
        accepted = builder.filter(event)
        if inspect.isawaitable(accepted):
            accepted = await accepted
        if accepted:
            await callback(event)

    # -- the TelegramClientLike interface -------------------------------------------------------

    async def connect(self) -> None:
        self.calls.append("connect")
        self._maybe_fail("connect")
        self.connected = True

    def is_connected(self) -> bool:
        return self.connected

    async def get_entity(self, entity: Any) -> Any:
        self.calls.append(f"get_entity {entity}")
        self._check_connected()
        self._maybe_fail("get_entity")
        if isinstance(entity, str):
            for state in self._by_id.values():
                if (state.entity.username or "").lower() == entity.lower():
                    return state.entity
            raise ValueError(f'No user has "{entity}" as username')
        if isinstance(entity, int):
            raw_id, _ = utils.resolve_id(entity)
        elif isinstance(entity, types.PeerChannel):
            raw_id = entity.channel_id
        else:
            raw_id = entity.id
        if raw_id in self._by_id:
            return self._by_id[raw_id].entity
        raise ValueError(f"Could not find the input entity for {entity!r}")

    def iter_messages(
        self,
        entity: Any,
        limit: int | None = None,
        *,
        min_id: int = 0,
        max_id: int = 0,
        offset_id: int = 0,
        offset_date: datetime | None = None,
        reverse: bool = False,
    ) -> AsyncIterator[Any]:
        self.calls.append(f"iter_messages {entity.id} min_id={min_id} reverse={reverse}")
        return self._iter(entity, limit, min_id, max_id, offset_id, offset_date, reverse)

    async def _iter(
        self,
        entity: Any,
        limit: int | None,
        min_id: int,
        max_id: int,
        offset_id: int,
        offset_date: datetime | None,
        reverse: bool,
    ) -> AsyncIterator[Any]:
        self._check_connected()
        failure = self._take_failure("iter_messages")
        if self.on_iter_messages is not None:
            await self.on_iter_messages()
        selected = self._select(entity, min_id, max_id, offset_id, offset_date, reverse)
        for count, message in enumerate(selected[:limit] if limit is not None else selected):
            if failure is not None and count == failure.after:
                raise failure.error
            await asyncio.sleep(0)  # let other tasks (live updates) interleave, as I/O would
            yield message
        if failure is not None:
            raise failure.error

    def _select(
        self,
        entity: Any,
        min_id: int,
        max_id: int,
        offset_id: int,
        offset_date: datetime | None,
        reverse: bool,
    ) -> list[Any]:
        history = [
            m
            for m in self._by_id[entity.id].history
            if (self.ignores_min_id or m.id > min_id) and (not max_id or m.id < max_id)
        ]
        if reverse:
            if offset_id:
                history = [m for m in history if m.id > offset_id]
            elif offset_date is not None:
                history = [m for m in history if m.date >= offset_date]
            return sorted(history, key=lambda m: m.id)
        if offset_id:
            history = [m for m in history if m.id < offset_id]
        if offset_date is not None:
            history = [m for m in history if m.date < offset_date]
        return sorted(history, key=lambda m: m.id, reverse=True)

    async def get_messages(
        self,
        entity: Any,
        limit: int | None = None,
        *,
        ids: Iterable[int] | None = None,
        offset_date: datetime | None = None,
    ) -> list[Any]:
        self.calls.append(f"get_messages {entity.id} limit={limit} ids={ids is not None}")
        self._check_connected()
        self._maybe_fail("get_messages")
        history = self._by_id[entity.id].history
        if ids is not None:
            by_id = {m.id: m for m in history}
            return [by_id.get(i) for i in ids]
        chosen = self._select(entity, 0, 0, 0, offset_date, False)
        return chosen[: 1 if limit is None else limit]

    def iter_dialogs(self) -> AsyncIterator[Any]:
        return self._dialogs()

    async def _dialogs(self) -> AsyncIterator[Any]:
        joined = sum(1 for s in self._by_id.values() if not s.entity.left)
        for _ in range(joined + self.other_channel_dialogs):
            yield _Dialog(is_channel=True)
        yield _Dialog(is_channel=False)

    def add_event_handler(self, callback: Handler, event: Any = None) -> None:
        self.handlers.append((callback, event))

    def remove_event_handler(self, callback: Handler, event: Any = None) -> int:
        before = len(self.handlers)
        self.handlers = [(c, e) for c, e in self.handlers if not (c == callback and e is event)]
        return before - len(self.handlers)

    async def __call__(self, request: Any) -> Any:
        self._check_connected()
        if isinstance(request, functions.channels.JoinChannelRequest):
            channel = request.channel
            self.calls.append(f"join {channel.id}")
            error = self._join_errors.get(str(channel.id))
            if error is not None:
                raise error
            channel.left = False
            self.joined.append(channel.username or str(channel.id))
            if self.on_join is not None:
                await self.on_join(channel)
            return types.Updates([], [], [channel], BASE_DATE, 0)
        if isinstance(request, functions.messages.GetPeerDialogsRequest):
            self.calls.append(f"peer_dialogs {len(request.peers)}")
            self._maybe_fail("peer_dialogs")
            return types.messages.PeerDialogs(
                dialogs=[self._dialog(p.peer.channel_id) for p in request.peers],
                messages=[],
                chats=[],
                users=[],
                state=types.updates.State(pts=0, qts=0, date=BASE_DATE, seq=0, unread_count=0),
            )
        raise NotImplementedError(f"the fake does not answer {type(request).__name__}")

    def _dialog(self, channel_id: int) -> types.Dialog:
        history = self._by_id[channel_id].history
        return types.Dialog(
            peer=types.PeerChannel(channel_id),
            top_message=max((m.id for m in history), default=0),
            read_inbox_max_id=0,
            read_outbox_max_id=0,
            unread_count=0,
            unread_mentions_count=0,
            unread_reactions_count=0,
            unread_poll_votes_count=0,
            notify_settings=types.PeerNotifySettings(),
        )

    # -- helpers -------------------------------------------------------------------------------

    def _check_connected(self) -> None:
        if not self.connected:
            raise ConnectionError("Cannot send requests while disconnected")

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.pop(0) if queue else None

    def _maybe_fail(self, method: str) -> None:
        failure = self._take_failure(method)
        if failure is not None:
            raise failure.error


@dataclass(frozen=True)
class _Dialog:
    is_channel: bool


def flood_wait(seconds: int = 0) -> errors.FloodWaitError:
    return errors.FloodWaitError(request=None, capture=seconds)


class RecordingSink:
    """A PostSink and ChannelCursor in one: records every call, stores posts like ingest would.

    `block_after` posts makes the next handle_posts call hang before storing (a transaction
    that never commits), so a test can cancel a source in the middle of a catch-up.
    """

    def __init__(self, cursor: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[list[IncomingPost], bool]] = []
        self.errors: list[tuple[str, str]] = []
        self.oks: list[str] = []
        self.block_after: int | None = None
        self.blocked = asyncio.Event()
        self._stored: dict[str, int] = dict(cursor or {})
        self._changed = asyncio.Condition()

    @property
    def posts(self) -> list[IncomingPost]:
        return [post for batch, _ in self.calls for post in batch]

    def ids(self, channel: str, *, edits: bool = False) -> list[int]:
        return [p.post_id for p in self.posts if p.channel == channel and p.is_edit == edits]

    async def handle_posts(self, posts: Sequence[IncomingPost], *, history: bool) -> None:
        if self.block_after is not None and len(self.posts) >= self.block_after:
            self.blocked.set()
            await asyncio.Event().wait()
        self.calls.append((list(posts), history))
        for post in posts:
            self._stored[post.channel] = max(self._stored.get(post.channel, 0), post.post_id)
        await self._notify()

    async def source_error(self, channel: str, message: str) -> None:
        self.errors.append((channel, message))
        await self._notify()

    async def source_ok(self, channel: str) -> None:
        self.oks.append(channel)
        await self._notify()

    async def last_post_id(self, channel: str) -> int | None:
        return self._stored.get(channel)

    async def known_post_ids(self, channel: str, post_ids: Sequence[int]) -> set[int]:
        handed = {p.post_id for p in self.posts if p.channel == channel}
        return {post_id for post_id in post_ids if post_id in handed}

    def stored(self) -> dict[str, int]:
        return dict(self._stored)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait for `condition`; the timeout is a safety net against a hung test, not a check."""

        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(waiting(), SAFETY_NET_SECONDS)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class MutableWatchList:
    def __init__(self, telegram: Iterable[str] = ()) -> None:
        self.telegram = list(telegram)

    async def channels(self, source: str) -> list[str]:
        return list(self.telegram) if source == "telegram" else []
