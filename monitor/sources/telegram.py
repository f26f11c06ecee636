"""Live posts from public Telegram channels through a Telethon user account.

Live updates are fast but not reliable (Telegram drops them under load, during reconnects and
for channels joined a moment ago), so every channel is also reconciled against its history
on a timer: a post never depends on its live event alone. Per channel, one lock orders the
catch-up and the live handlers, and `last_id` (the newest message id handed to the sink)
keeps them from handing a post twice or out of order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from telethon import errors, events, utils
from telethon.tl import functions, types

from monitor.errors import AccountUnusable, SourceError, TelegramUnreachable
from monitor.sources.base import ChannelCursor, PostSink, WatchList
from monitor.sources.telegram_auth import ACCOUNT_ERRORS, account_problem
from monitor.sources.telegram_posts import is_post, to_post, to_posts
from storage.errors import ChanwatchError

logger = logging.getLogger(__name__)

SOURCE_NAME: Final = "telegram"
FIRST_SIGHT_POSTS: Final = 50
"""How many recent posts a channel seen for the first time contributes, without alerts."""
BATCH_SIZE: Final = 100
CHANNEL_COUNT_WARNING: Final = 450
"""Telegram refuses joins past about 500 channels and supergroups per account."""
CONNECTION_CHECK_SECONDS: Final = 5.0
RECONNECT_MAX_SECONDS: Final = 300.0
ALBUM_MAX_ITEMS: Final = 10
DIALOGS_PER_REQUEST: Final = 100
_EDITS_REMEMBERED: Final = 512
_NUMERIC_ID: Final = re.compile(r"-?\d+")
NETWORK_ERRORS: Final = (OSError, EOFError)
"""What a lost or broken connection raises: EOFError (IncompleteReadError) comes from a peer
that closes early or answers something other than MTProto, e.g. a captive portal."""

T = TypeVar("T")
EventHandler = Callable[[Any], Awaitable[None]]


class TelegramClientLike(Protocol):
    """The narrow part of `telethon.TelegramClient` this package uses (fakes implement it)."""

    async def connect(self) -> None: ...

    def is_connected(self) -> bool: ...

    async def get_entity(self, entity: Any) -> Any: ...

    async def get_messages(self, entity: Any, *args: Any, **kwargs: Any) -> Any: ...

    def iter_messages(self, entity: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]: ...

    def iter_dialogs(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]: ...

    def add_event_handler(self, callback: EventHandler, event: Any = None) -> None: ...

    def remove_event_handler(self, callback: EventHandler, event: Any = None) -> int: ...

    async def __call__(self, request: Any) -> Any: ...

    async def disconnect(self) -> Any: ...


class LookupDeferred(SourceError):
    """Telegram rate-limits channel lookups or joins for longer than is worth blocking for."""

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


def channel_label(handle: str) -> str:
    """How messages name a channel: `@name` for usernames, the id as written otherwise."""
    return handle if _NUMERIC_ID.fullmatch(handle) else f"@{handle}"


class PatientClient:
    """Runs client calls through Telegram's flood waits and lost connections.

    A flood wait is slept out (Telegram says how long); a lost connection is re-established
    with exponential backoff. Neither is reported as a channel error: both are the account's
    weather, not the channel's fault. An answer that the account itself is no longer usable
    (logged out, banned…) is raised as AccountUnusable, which no per-channel handler catches.
    """

    def __init__(
        self,
        client: TelegramClientLike,
        *,
        reconnect_base_seconds: float = 1.0,
        max_connect_attempts: int | None = None,
    ):
        self.client = client
        self._base = reconnect_base_seconds
        self._max_attempts = max_connect_attempts

    async def ensure_connected(self) -> None:
        """Connect, retrying with backoff; TelegramUnreachable after `max_connect_attempts`
        failures (when given), so that whoever runs several accounts can tell a dead one."""
        delay = self._base
        attempts = 0
        while not self.client.is_connected():
            attempts += 1
            try:
                await self.client.connect()
            except NETWORK_ERRORS as exc:
                if self._max_attempts is not None and attempts >= self._max_attempts:
                    raise TelegramUnreachable(
                        f"cannot reach Telegram after {attempts} attempts ({exc})"
                    ) from None
                logger.warning("cannot reach Telegram (%s); retrying in %.0f s", exc, delay)
            else:
                if self.client.is_connected():
                    logger.info("connected to Telegram")
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def call(
        self, what: str, op: Callable[[], Awaitable[T]], *, max_wait: float | None = None
    ) -> T:
        """`op()`, retried after flood waits and connection errors.

        A flood wait longer than `max_wait` seconds is raised instead of slept out.
        """
        failures = 0
        while True:
            await self.ensure_connected()
            try:
                return await op()
            except ACCOUNT_ERRORS as exc:
                raise account_problem(exc) from exc
            except errors.FloodWaitError as exc:
                if max_wait is not None and exc.seconds > max_wait:
                    raise
                failures += 1
                await self.wait_out(what, exc, failures)
            except NETWORK_ERRORS as exc:
                failures += 1
                await self.wait_out(what, exc, failures)

    async def wait_out(self, what: str, exc: BaseException, failures: int) -> None:
        """Sleep as long as a flood wait says, or back off after a connection error."""
        if isinstance(exc, errors.FloodWaitError):
            logger.warning("Telegram asks to wait %d s before %s; waiting", exc.seconds, what)
            await asyncio.sleep(exc.seconds)
            return
        # The client may still believe it is connected, so back off before retrying.
        delay = min(self._base * 2 ** (failures - 1), RECONNECT_MAX_SECONDS)
        logger.warning(
            "connection to Telegram failed while %s (%s); retrying in %.0f s", what, exc, delay
        )
        await asyncio.sleep(delay)

    async def messages_after(
        self, entity: Any, min_id: int, *, what: str
    ) -> AsyncGenerator[Any, None]:
        """Every message newer than `min_id`, oldest first, resuming after waits and drops."""
        last = min_id
        failures = 0
        while True:
            await self.ensure_connected()
            try:
                async for message in self.client.iter_messages(entity, min_id=last, reverse=True):
                    last = max(last, message.id)
                    yield message
                return
            except ACCOUNT_ERRORS as exc:
                raise account_problem(exc) from exc
            except (errors.FloodWaitError, *NETWORK_ERRORS) as exc:
                failures += 1
                await self.wait_out(what, exc, failures)

    async def messages_newest_first(self, entity: Any, *, what: str) -> AsyncGenerator[Any, None]:
        """The whole history from the newest message back, resuming after waits and drops."""
        offset = 0
        failures = 0
        while True:
            await self.ensure_connected()
            try:
                async for message in self.client.iter_messages(entity, offset_id=offset):
                    offset = message.id
                    yield message
                return
            except ACCOUNT_ERRORS as exc:
                raise account_problem(exc) from exc
            except (errors.FloodWaitError, *NETWORK_ERRORS) as exc:
                failures += 1
                await self.wait_out(what, exc, failures)

    async def batches_after(
        self, entity: Any, min_id: int, *, size: int, what: str
    ) -> AsyncGenerator[list[Any], None]:
        """`messages_after` in lists of about `size`, never splitting an album."""
        batch: list[Any] = []
        async with aclosing(self.messages_after(entity, min_id, what=what)) as messages:
            async for message in messages:
                group = getattr(message, "grouped_id", None)
                if len(batch) >= size and (group is None or group != batch[-1].grouped_id):
                    yield batch
                    batch = []
                batch.append(message)
        if batch:
            yield batch


async def resolve_channel(
    patient: PatientClient, handle: str, *, max_wait: float | None = None
) -> Any:
    """The `types.Channel` for a normalised handle, or SourceError naming the channel.

    A flood wait longer than `max_wait` raises LookupDeferred rather than blocking.
    """
    label = channel_label(handle)
    numeric = _NUMERIC_ID.fullmatch(handle) is not None
    target: Any = handle
    if numeric:
        # -100… is Telethon's marked channel id; a bare positive number means a channel too.
        target = int(handle) if handle.startswith("-") else types.PeerChannel(int(handle))
    try:
        entity = await patient.call(
            f"resolving {label}", lambda: patient.client.get_entity(target), max_wait=max_wait
        )
    except errors.FloodWaitError as exc:
        raise _deferred(label, "look up", exc.seconds) from None
    except (ValueError, TypeError, errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
        if numeric:
            raise SourceError(
                f"Telegram channel {label}: this account has never seen a channel with that id; "
                "add the channel by its t.me username instead"
            ) from None
        raise SourceError(
            f"Telegram channel {label} does not exist: no public channel has that username"
        ) from None
    except (errors.ChannelPrivateError, errors.ChannelInvalidError):
        raise SourceError(_private_message(label)) from None
    except errors.RPCError as exc:
        raise SourceError(f"Telegram channel {label} cannot be resolved: {exc}") from None
    if isinstance(entity, types.ChannelForbidden):
        raise SourceError(_private_message(label))
    if not isinstance(entity, types.Channel):
        kind = "a user or bot" if isinstance(entity, types.User) else "a small group"
        raise SourceError(f"{label} is {kind}, not a Telegram channel")
    return entity


def _deferred(label: str, action: str, seconds: int) -> LookupDeferred:
    return LookupDeferred(
        f"Telegram limits how often this account may {action} channels: "
        f"{label} is tried again in {max(1, round(seconds / 60))} min",
        seconds,
    )


def _private_message(label: str) -> str:
    return (
        f"Telegram channel {label} is private or this account is banned from it: "
        "chanwatch reads public channels only"
    )


@dataclass(eq=False)
class _Channel:
    handle: str
    entity: Any
    peer_id: int
    title: str | None
    last_id: int = 0
    """Newest message id handed to the sink (service messages included)."""
    ready: bool = False
    """Caught up at least once; live events before that are left to the catch-up."""
    join_problem: str | None = None
    """Why live updates are off; the channel is then read by reconciliation only."""
    join_again_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    edits_seen: OrderedDict[int, datetime | None] = field(default_factory=OrderedDict)


class TelegramSource:
    """Watches the channels of `watchlist.channels("telegram")` and hands their posts to a sink.

    `run()` runs until cancelled, or raises AccountUnusable when Telegram no longer accepts
    the account. Posts of one channel reach the sink oldest first, each once; a channel seen
    for the first time contributes its latest posts as history (no alerts). One source reads
    through one account: with several accounts, each has its own source and watch list.
    """

    def __init__(
        self,
        client: TelegramClientLike,
        *,
        sink: PostSink,
        cursor: ChannelCursor,
        watchlist: WatchList,
        reconcile_seconds: float = 180.0,
        join_pause_seconds: float = 3.0,
        retry_failed_seconds: float = 1800.0,
        reconnect_base_seconds: float = 1.0,
        batch_size: int = BATCH_SIZE,
        first_sight_posts: int = FIRST_SIGHT_POSTS,
        account: str = "",
        on_pass: Callable[[], Awaitable[None]] | None = None,
        max_connect_attempts: int | None = None,
    ) -> None:
        self._patient = PatientClient(
            client,
            reconnect_base_seconds=reconnect_base_seconds,
            max_connect_attempts=max_connect_attempts,
        )
        self._client = client
        self._sink = sink
        self._cursor = cursor
        self._watchlist = watchlist
        self._reconcile_seconds = reconcile_seconds
        self._join_pause_seconds = join_pause_seconds
        self._retry_failed_seconds = retry_failed_seconds
        self._batch_size = batch_size
        self._first_sight_posts = first_sight_posts
        self._channels: dict[str, _Channel] = {}
        self._by_peer: dict[int, _Channel] = {}
        self._failed_until: dict[str, float] = {}
        self._account = f" account={account}" if account else ""
        self._on_pass = on_pass
        self._wake = asyncio.Event()
        self._unusable: AccountUnusable | None = None

    def wake(self) -> None:
        """Read the watch list again now, not at the next reconciliation pass."""
        self._wake.set()

    async def run(self) -> None:
        await self._patient.ensure_connected()
        await self._warn_about_channel_count()
        handlers: list[tuple[EventHandler, Any]] = [
            (self._on_new_message, events.NewMessage(func=self._is_watched)),
            (self._on_album, events.Album(func=self._is_watched)),
            (self._on_edit, events.MessageEdited(func=self._is_watched)),
        ]
        for callback, builder in handlers:
            self._client.add_event_handler(callback, builder)
        try:
            while True:
                self._wake.clear()
                await self._reconcile()
                if self._on_pass is not None:
                    await self._on_pass()
                await self._wait_for_next_pass()
                if self._unusable is not None:
                    raise self._unusable
        finally:
            for callback, builder in handlers:
                self._client.remove_event_handler(callback, builder)

    # -- the reconciliation pass -------------------------------------------------------------

    async def _reconcile(self) -> None:
        wanted = list(dict.fromkeys(await self._watchlist.channels(SOURCE_NAME)))
        for handle in [h for h in self._channels if h not in wanted]:
            logger.info(
                "no longer watching Telegram channel %s%s", channel_label(handle), self._account
            )
            self._drop(handle)
        for handle in [h for h in self._failed_until if h not in wanted]:
            del self._failed_until[handle]  # re-adding a channel tries it again at once
        now = asyncio.get_running_loop().time()
        new = [
            h for h in wanted if h not in self._channels and self._failed_until.get(h, 0.0) <= now
        ]
        for index, handle in enumerate(new):
            if index:
                # ResolveUsername and JoinChannel are the most flood-limited calls there are.
                await asyncio.sleep(self._join_pause_seconds)
            await self._add(handle)
        for channel in list(self._channels.values()):
            if channel.join_problem is not None and channel.join_again_at <= now:
                await self._join_again(channel)
        channels = list(self._channels.values())
        tops = await self._top_message_ids([c for c in channels if c.join_problem is None])
        for channel in channels:
            if self._channels.get(channel.handle) is channel:
                await self._sync_and_report(channel, tops.get(channel.peer_id))

    async def _top_message_ids(self, channels: Sequence[_Channel]) -> dict[int, int]:
        """Newest message id per joined channel, a hundred channels per request.

        One GetPeerDialogs instead of one GetHistory per channel keeps a pass over hundreds
        of channels far from Telegram's flood limits. Channels missing from the answer are
        checked one by one.
        """
        tops: dict[int, int] = {}
        for start in range(0, len(channels), DIALOGS_PER_REQUEST):
            chunk = channels[start : start + DIALOGS_PER_REQUEST]
            request = functions.messages.GetPeerDialogsRequest(
                peers=[types.InputDialogPeer(utils.get_input_peer(c.entity)) for c in chunk]
            )
            try:
                answer = await self._patient.call(
                    "checking channels", functools.partial(self._client, request)
                )
            except errors.RPCError as exc:
                logger.warning("checking channels for new posts failed (%s); one by one", exc)
                continue
            for dialog in answer.dialogs:
                tops[utils.get_peer_id(dialog.peer)] = dialog.top_message
        return tops

    async def _wait_for_next_pass(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconcile_seconds
        while True:
            # Telethon resolves `disconnected` when it gives up on the connection, e.g. when
            # its update loop learns that the account was logged out: react at once to that.
            waits = [asyncio.ensure_future(self._wake.wait())]
            disconnected = getattr(self._client, "disconnected", None)
            if disconnected is not None and not disconnected.done():
                waits.append(asyncio.ensure_future(disconnected))
            step = max(0.0, min(deadline - loop.time(), CONNECTION_CHECK_SECONDS))
            try:
                await asyncio.wait(waits, timeout=step, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            if self._wake.is_set():
                return
            if not self._client.is_connected():
                logger.warning("lost the connection to Telegram; reconnecting")
                await self._patient.ensure_connected()
                return  # catch up right away: live updates were missed meanwhile
            if loop.time() >= deadline:
                return

    async def _add(self, handle: str) -> None:
        try:
            entity = await resolve_channel(self._patient, handle, max_wait=self._reconcile_seconds)
        except LookupDeferred as exc:
            await self._fail(handle, str(exc), retry_after=exc.seconds)
            return
        except SourceError as exc:
            await self._fail(handle, str(exc))
            return
        channel = _Channel(
            handle=handle,
            entity=entity,
            peer_id=utils.get_peer_id(entity),
            title=getattr(entity, "title", None),
        )
        if getattr(entity, "left", False):
            try:
                channel.join_problem = await self._join(channel)
            except LookupDeferred as exc:
                await self._fail(handle, str(exc), retry_after=exc.seconds)
                return
            except SourceError as exc:
                await self._fail(handle, str(exc))
                return
            if channel.join_problem:
                channel.join_again_at = self._retry_at(self._retry_failed_seconds)
                await self._sink.source_error(handle, channel.join_problem)
        self._failed_until.pop(handle, None)
        self._channels[handle] = channel
        self._by_peer[channel.peer_id] = channel
        logger.info(
            "watching Telegram channel %s (%s)%s",
            channel_label(handle),
            channel.title,
            self._account,
        )

    async def _join_again(self, channel: _Channel) -> None:
        try:
            channel.join_problem = await self._join(channel)
        except LookupDeferred as exc:
            channel.join_again_at = self._retry_at(exc.seconds)
            return
        except SourceError as exc:
            self._drop(channel.handle)
            await self._fail(channel.handle, str(exc))
            return
        channel.join_again_at = self._retry_at(self._retry_failed_seconds)

    def _retry_at(self, delay: float) -> float:
        return asyncio.get_running_loop().time() + delay

    async def _join(self, channel: _Channel) -> str | None:
        """Join for live updates; returns why live updates are off, if they are."""
        label = channel_label(channel.handle)
        request = functions.channels.JoinChannelRequest(channel.entity)
        try:
            await self._patient.call(
                f"joining {label}", lambda: self._client(request), max_wait=self._reconcile_seconds
            )
        except errors.FloodWaitError as exc:
            raise _deferred(label, "join", exc.seconds) from None
        except errors.ChannelsTooMuchError:
            return (
                f"cannot join Telegram channel {label}: this account is in too many channels "
                "and supergroups (Telegram's limit is about 500); leave some. Until then the "
                f"channel is read every {self._reconcile_seconds:.0f} s instead of live"
            )
        except errors.InviteRequestSentError:
            return (
                f"Telegram channel {label} needs an admin's approval to join (request sent); "
                f"until then it is read every {self._reconcile_seconds:.0f} s instead of live"
            )
        except (errors.ChannelPrivateError, errors.ChannelInvalidError):
            raise SourceError(_private_message(label)) from None
        except errors.RPCError as exc:
            return (
                f"cannot join Telegram channel {label} ({exc}); it is read every "
                f"{self._reconcile_seconds:.0f} s instead of live"
            )
        logger.info("joined Telegram channel %s%s", label, self._account)
        return None

    async def _fail(self, handle: str, message: str, *, retry_after: float | None = None) -> None:
        logger.warning("%s", message)
        delay = self._retry_failed_seconds if retry_after is None else retry_after
        self._failed_until[handle] = self._retry_at(delay)
        await self._sink.source_error(handle, message)

    def _drop(self, handle: str) -> None:
        channel = self._channels.pop(handle, None)
        if channel is not None:
            self._by_peer.pop(channel.peer_id, None)

    async def _sync_and_report(self, channel: _Channel, top_id: int | None) -> None:
        label = channel_label(channel.handle)
        try:
            async with channel.lock:
                await self._sync(channel, top_id)
        except (errors.ChannelPrivateError, errors.ChannelInvalidError):
            self._drop(channel.handle)
            await self._fail(channel.handle, _private_message(label))
            return
        except errors.RPCError as exc:
            message = f"reading Telegram channel {label} failed: {exc}"
            logger.warning("%s", message)
            await self._sink.source_error(channel.handle, message)
            return
        if channel.join_problem is None:
            await self._sink.source_ok(channel.handle)

    async def _sync(self, channel: _Channel, top_id: int | None) -> None:
        """Hand everything newer than what is stored; the caller holds the channel lock.

        `top_id`: the channel's newest message id when already known, else it is asked for.
        """
        label = channel_label(channel.handle)
        stored = await self._cursor.last_post_id(channel.handle)
        if stored is None and channel.last_id == 0:
            latest = await self._patient.call(
                f"reading {label}",
                lambda: self._client.get_messages(channel.entity, limit=self._first_sight_posts),
            )
            messages = list(latest or ())
            await self._hand(channel, messages, history=True)
            channel.last_id = max((m.id for m in messages), default=0)
        else:
            channel.last_id = max(stored or 0, channel.last_id)
            if top_id is None:
                newest = await self._patient.call(
                    f"reading {label}", lambda: self._client.get_messages(channel.entity, limit=1)
                )
                top_id = newest[0].id if newest else 0
            if top_id > channel.last_id:
                await self._fetch_missing(channel)
        channel.ready = True

    async def _fetch_missing(self, channel: _Channel) -> None:
        what = f"reading {channel_label(channel.handle)}"
        batches = self._patient.batches_after(
            channel.entity, channel.last_id, size=self._batch_size, what=what
        )
        async with aclosing(batches):
            async for batch in batches:
                # Only what is newer than the cursor was asked for; a server (or a future
                # Telethon) that ignores min_id returns older posts too, which are kept as
                # history rather than alerted as new.
                outside = [m for m in batch if m.id <= channel.last_id]
                if outside:
                    logger.warning(
                        "Telegram channel %s: asked for posts after %d, got %d at or below it; "
                        "kept as history, not alerted",
                        channel_label(channel.handle),
                        channel.last_id,
                        len(outside),
                    )
                    await self._hand(channel, outside, history=True)
                await self._hand(channel, [m for m in batch if m.id > channel.last_id])
                channel.last_id = max(channel.last_id, max(m.id for m in batch))

    async def _hand(
        self, channel: _Channel, messages: list[Any], *, history: bool = False
    ) -> None:
        posts = to_posts(messages, channel=channel.handle, channel_title=channel.title)
        if posts:
            await self._sink.handle_posts(posts, history=history)

    # -- live updates -------------------------------------------------------------------------

    def _is_watched(self, event: Any) -> bool:
        return event.chat_id in self._by_peer

    async def _on_new_message(self, event: Any) -> None:
        if event.message.grouped_id is not None:
            return  # one album item among several: the Album event hands the album once
        await self._live(event.chat_id, [event.message], edited=False)

    async def _on_album(self, event: Any) -> None:
        await self._live(event.chat_id, list(event.messages), edited=False)

    async def _on_edit(self, event: Any) -> None:
        await self._live(event.chat_id, [event.message], edited=True)

    async def _live(self, peer_id: int, messages: Sequence[Any], *, edited: bool) -> None:
        channel = self._by_peer.get(peer_id)
        if channel is None:
            return
        try:
            async with channel.lock:
                if not channel.ready or self._channels.get(channel.handle) is not channel:
                    return  # the pending catch-up reads it from the history
                if edited:
                    await self._live_edit(channel, messages[0])
                else:
                    await self._live_new(channel, messages)
        except AccountUnusable as exc:
            self._unusable = exc  # run() raises it: the account as a whole is gone
            self._wake.set()
        except (errors.RPCError, *NETWORK_ERRORS, ChanwatchError) as exc:
            # Reconciliation fetches whatever this missed; the live path is only the fast one.
            logger.warning(
                "live update of Telegram channel %s not handled (%s); reconciliation will",
                channel_label(channel.handle),
                exc,
            )

    async def _live_new(self, channel: _Channel, messages: Sequence[Any]) -> None:
        fresh = [m for m in messages if m.id > channel.last_id]
        if not fresh:
            return  # already handed by a catch-up
        if min(m.id for m in fresh) > channel.last_id + 1:
            # Something between was not handed (a dropped update, a service message):
            # read the history so that posts stay in order; it contains `fresh` too.
            await self._fetch_missing(channel)
            return
        await self._hand(channel, fresh)
        channel.last_id = max(m.id for m in fresh)

    async def _live_edit(self, channel: _Channel, message: Any) -> None:
        if not is_post(message) or message.edit_date is None:
            return  # reactions and view counters arrive as edits without an edit date
        if message.id > channel.last_id:
            await self._fetch_missing(channel)
            return
        if channel.edits_seen.get(message.id) == message.edit_date:
            return
        group = [message]
        if message.grouped_id is not None:
            group = await self._album_of(channel, message)
        post = to_post(group, channel=channel.handle, channel_title=channel.title, is_edit=True)
        await self._sink.handle_posts([post], history=False)
        channel.edits_seen[message.id] = message.edit_date
        while len(channel.edits_seen) > _EDITS_REMEMBERED:
            channel.edits_seen.popitem(last=False)

    async def _album_of(self, channel: _Channel, message: Any) -> list[Any]:
        """All items of the album an edited caption belongs to, so it maps to the same post."""
        ids = list(range(message.id - ALBUM_MAX_ITEMS + 1, message.id + ALBUM_MAX_ITEMS))
        found = await self._patient.call(
            f"reading {channel_label(channel.handle)}",
            lambda: self._client.get_messages(channel.entity, ids=ids),
        )
        group = [
            m
            for m in found or ()
            if is_post(m) and m.grouped_id == message.grouped_id and m.id != message.id
        ]
        return [*group, message]

    # -- start-up checks ----------------------------------------------------------------------

    async def _warn_about_channel_count(self) -> None:
        count = 0
        try:
            async for dialog in self._client.iter_dialogs():
                if getattr(dialog, "is_channel", False):
                    count += 1
        except ACCOUNT_ERRORS as exc:
            raise account_problem(exc) from exc
        except (errors.RPCError, *NETWORK_ERRORS) as exc:
            logger.warning("could not count this account's channels (%s)", exc)
            return
        if count >= CHANNEL_COUNT_WARNING:
            logger.warning(
                "this Telegram account is in %d channels and supergroups; Telegram refuses "
                "to join more than about 500, after which new channels are only polled",
                count,
            )
