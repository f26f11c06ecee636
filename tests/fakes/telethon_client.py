"""An in-memory Telegram for the Telethon source: channels, their history, live updates, and
the user accounts that read them.

`FakeTelegram` is Telegram's side: channels, their histories, and accounts known by their
session file, each with its own memberships; an account can be banned or its session revoked,
after which every request of it gets the error Telegram sends (UserDeactivatedBanError,
AuthKeyUnregisteredError…). `FakeTelegramClient` is one account's client: it implements the
narrow `TelegramClientLike` interface (and what `chanwatch login` needs) with Telethon's own
TL objects (types.Channel, types.Message), and delivers live updates the way Telethon does:
it builds events from real `Update…` objects with the registered event builders and runs the
handlers whose filters accept them. Also here: a recording `PostSink` that doubles as the
`ChannelCursor` (the newest stored id per channel), and a mutable `WatchList`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telethon import errors, events, utils
from telethon.tl import functions, types

from monitor.sources.base import IncomingPost
from monitor.sources.session_files import session_file

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


@dataclass
class FakeAccount:
    """A Telegram user account: what its session file may do, and what it has joined."""

    name: str
    user_id: int
    logged_in: bool = True
    dead: type[errors.RPCError] | None = None
    """The error Telegram answers every request of this account with (banned, revoked…)."""
    member_of: set[int] = field(default_factory=set)
    joins: list[str] = field(default_factory=list)
    """Channels this account joined (usernames, or ids without one), in order."""
    clients: list[FakeTelegramClient] = field(default_factory=list)


class FakeTelegram:
    """Telegram itself: public channels with their histories, and the user accounts.

    Accounts are known by their session file, as Telegram knows a client by its auth key:
    `client_factory` builds a client the way `TelegramClient(session, api_id, api_hash)` does,
    and every client of one session is the same account (its memberships survive restarts).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, _FakeChannel] = {}
        self._pts = itertools.count(1)
        self._accounts: dict[str, FakeAccount] = {}
        self._user_ids = itertools.count(500_001)

    # -- channels ------------------------------------------------------------------------------

    def add_channel(self, username: str | None, channel_id: int, title: str = "") -> types.Channel:
        entity = types.Channel(
            id=channel_id,
            title=title or f"Channel {username or channel_id}",
            photo=types.ChatPhotoEmpty(),
            date=BASE_DATE,
            username=username,
            access_hash=channel_id * 7,
            broadcast=True,
            left=True,
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

    async def publish(self, channel: types.Channel, text: str) -> types.Message:
        """A new post, pushed live to every connected client of an account that is a member."""
        message = self.post(channel, text)
        for account in self._accounts.values():
            if channel.id in account.member_of and account.dead is None:
                for client in account.clients:
                    if client.connected:
                        await client.dispatch_new(message)
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

    # -- accounts ------------------------------------------------------------------------------

    def add_account(
        self, name: str, session: Path | str | None = None, *, logged_in: bool = True
    ) -> FakeAccount:
        """An account whose session file is `session` (written, as a past login left it)."""
        account = FakeAccount(name, next(self._user_ids), logged_in=logged_in)
        key = name
        if session is not None:
            path = session_file(Path(session))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            key = str(path)
        self._accounts[key] = account
        return account

    def account(self, name: str) -> FakeAccount:
        return next(a for a in self._accounts.values() if a.name == name)

    def client_factory(self, session: str, api_id: int, api_hash: str) -> FakeTelegramClient:
        """Stands in for `TelegramClient(session, api_id, api_hash)`: like Telethon's SQLite
        session, it creates the session file; an unknown session is a new, logged-out one."""
        path = session_file(Path(session))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        account = self._accounts.get(str(path))
        if account is None:
            account = self.add_account(path.stem, path, logged_in=False)
        return FakeTelegramClient(world=self, account=account)

    def kill(self, name: str, error: type[errors.RPCError], *, noticed: bool = True) -> None:
        """From now on Telegram answers every request of account `name` with `error`.

        `noticed`: like Telethon, whose update loop gets the same answer when it next asks
        for updates and then disconnects, its connected clients are disconnected (the
        `disconnected` future resolves). False: the next request is the first to hear it.
        """
        account = self.account(name)
        account.dead = error
        for client in account.clients:
            if client.connected and noticed:
                client.lose_session()

    def ban(self, name: str, *, noticed: bool = True) -> None:
        self.kill(name, errors.UserDeactivatedBanError, noticed=noticed)

    def revoke(self, name: str, *, noticed: bool = True) -> None:
        """The session was logged out (e.g. terminated from another device)."""
        self.kill(name, errors.AuthKeyUnregisteredError, noticed=noticed)

    def channel_state(self, channel_id: int) -> _FakeChannel:
        return self._by_id[channel_id]

    def channel_states(self) -> list[_FakeChannel]:
        return list(self._by_id.values())

    def next_pts(self) -> int:
        return next(self._pts)


class FakeTelegramClient:
    """One account's client: the narrow `TelegramClientLike` plus what login needs.

    Built alone (`FakeTelegramClient()`), it brings its own one-account Telegram, and the
    world-building calls (`add_channel`, `post`…) go to it.
    """

    def __init__(
        self, *, world: FakeTelegram | None = None, account: FakeAccount | None = None
    ) -> None:
        self.world = world or FakeTelegram()
        self.account = account or self.world.add_account("main")
        self.account.clients.append(self)
        self.connected = True
        self.handlers: list[tuple[Handler, Any]] = []
        self.calls: list[str] = []
        self.other_channel_dialogs = 0
        self.on_iter_messages: Callable[[], Awaitable[None]] | None = None
        """Awaited when an iter_messages starts: lets a test fire live updates mid catch-up."""
        self.ignores_min_id = False
        """Answer history requests with the whole channel, as one independent MTProto server
        did: a catch-up then receives posts older than it asked for."""
        self.on_join: Callable[[types.Channel], Awaitable[None]] | None = None
        """Awaited after a successful join, when Telegram starts pushing the channel's updates."""
        self._failures: dict[str, list[_Failure]] = {}
        self._join_errors: dict[str, BaseException] = {}
        self._disconnected: asyncio.Future[None] | None = None

    @property
    def joined(self) -> list[str]:
        return self.account.joins

    # -- building the world (one-account tests) ------------------------------------------------

    def add_channel(
        self, username: str | None, channel_id: int, title: str = "", *, member: bool = False
    ) -> types.Channel:
        entity = self.world.add_channel(username, channel_id, title)
        if member:
            self.account.member_of.add(channel_id)
        return entity

    def post(self, channel: types.Channel, text: str = "", **options: Any) -> types.Message:
        return self.world.post(channel, text, **options)

    def album(self, channel: types.Channel, caption: str, items: int = 3) -> list[types.Message]:
        return self.world.album(channel, caption, items)

    def service(self, channel: types.Channel) -> types.MessageService:
        return self.world.service(channel)

    def edit(self, channel: types.Channel, message_id: int, text: str) -> types.Message:
        return self.world.edit(channel, message_id, text)

    def message(self, channel: types.Channel, message_id: int) -> Any:
        return self.world.message(channel, message_id)

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
        """The network went away (Telethon keeps `disconnected` pending while it retries)."""
        self.connected = False

    def lose_session(self) -> None:
        """Telethon's update loop learnt the account is unusable: it disconnects for good."""
        self.connected = False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)

    # -- live updates, delivered like Telethon does --------------------------------------------

    async def dispatch_new(self, message: Any) -> None:
        await self._dispatch(types.UpdateNewChannelMessage(message, self.world.next_pts(), 1))

    async def dispatch_edit(self, message: Any) -> None:
        await self._dispatch(types.UpdateEditChannelMessage(message, self.world.next_pts(), 1))

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
        # A connection works whatever became of the account: only requests are refused.
        self.connected = True
        self._disconnected = asyncio.get_running_loop().create_future()

    def is_connected(self) -> bool:
        return self.connected

    @property
    def disconnected(self) -> asyncio.Future[None]:
        """Like Telethon's: resolves when the client is disconnected for good."""
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
            if not self.connected:
                self._disconnected.set_result(None)
        return asyncio.shield(self._disconnected)

    async def disconnect(self) -> None:
        self.calls.append("disconnect")
        self.lose_session()
        if self in self.account.clients:
            self.account.clients.remove(self)

    async def is_user_authorized(self) -> bool:
        # Telethon asks GetStateRequest and counts any RPC error as "not authorised".
        self._check_connected()
        return self.account.logged_in and self.account.dead is None

    async def start(
        self, *, phone: Any, code_callback: Any, password: Any, max_attempts: int = 3
    ) -> FakeTelegramClient:
        """An interactive login as Telethon's start() does it: phone, code, then (for
        accounts with two-step verification) the password."""
        self.calls.append("start")
        if not await self.is_user_authorized():
            self.calls.extend(["phone " + phone(), "code " + code_callback()])
            self.account.logged_in = True
            self.account.dead = None
        return self

    async def get_me(self) -> types.User:
        self._request("get_me")
        return types.User(id=self.account.user_id, first_name=self.account.name.title())

    async def get_entity(self, entity: Any) -> Any:
        self._request(f"get_entity {entity}")
        self._maybe_fail("get_entity")
        if isinstance(entity, str):
            for state in self._channels():
                if (state.entity.username or "").lower() == entity.lower():
                    return self._as_seen(state.entity)
            raise ValueError(f'No user has "{entity}" as username')
        if isinstance(entity, int):
            raw_id, _ = utils.resolve_id(entity)
        elif isinstance(entity, types.PeerChannel):
            raw_id = entity.channel_id
        else:
            raw_id = entity.id
        for state in self._channels():
            if state.entity.id == raw_id:
                return self._as_seen(state.entity)
        raise ValueError(f"Could not find the input entity for {entity!r}")

    def _channels(self) -> list[_FakeChannel]:
        return self.world.channel_states()

    def _as_seen(self, entity: types.Channel) -> types.Channel:
        """The channel as this account sees it: `left` says whether it is a member."""
        seen = copy.copy(entity)
        seen.left = entity.id not in self.account.member_of
        return seen

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
        self._request(None)
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
            for m in self.world.channel_state(entity.id).history
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
        self._request(f"get_messages {entity.id} limit={limit} ids={ids is not None}")
        self._maybe_fail("get_messages")
        history = self.world.channel_state(entity.id).history
        if ids is not None:
            by_id = {m.id: m for m in history}
            return [by_id.get(i) for i in ids]
        chosen = self._select(entity, 0, 0, 0, offset_date, False)
        return chosen[: 1 if limit is None else limit]

    def iter_dialogs(self) -> AsyncIterator[Any]:
        return self._dialogs()

    async def _dialogs(self) -> AsyncIterator[Any]:
        self._request("iter_dialogs")
        for _ in range(len(self.account.member_of) + self.other_channel_dialogs):
            yield _Dialog(is_channel=True)
        yield _Dialog(is_channel=False)

    def add_event_handler(self, callback: Handler, event: Any = None) -> None:
        self.handlers.append((callback, event))

    def remove_event_handler(self, callback: Handler, event: Any = None) -> int:
        before = len(self.handlers)
        self.handlers = [(c, e) for c, e in self.handlers if not (c == callback and e is event)]
        return before - len(self.handlers)

    async def __call__(self, request: Any) -> Any:
        self._request(None)
        if isinstance(request, functions.channels.JoinChannelRequest):
            channel = request.channel
            self.calls.append(f"join {channel.id}")
            error = self._join_errors.get(str(channel.id))
            if error is not None:
                raise error
            channel.left = False
            if channel.id not in self.account.member_of:
                self.account.member_of.add(channel.id)
                self.account.joins.append(channel.username or str(channel.id))
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
        history = self.world.channel_state(channel_id).history
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

    def _request(self, call: str | None) -> None:
        """Every request: recorded, refused when disconnected, answered with the account's
        error when Telegram no longer accepts it (the error a real server sends)."""
        if call is not None:
            self.calls.append(call)
        self._check_connected()
        if self.account.dead is not None:
            raise self.account.dead(request=None)
        if not self.account.logged_in:
            raise errors.AuthKeyUnregisteredError(request=None)

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
