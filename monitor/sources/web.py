"""Poll channels' public web previews (``https://t.me/s/<handle>``): no Telegram login needed.

Each watched channel is fetched every `poll_seconds` (with jitter so many channels do not
fire together). New posts go to the sink oldest first; the posts already seen on the first
page are handed again so the sink can notice edits. Each channel fails on its own: a rate
limit, an outage or a vanished channel is reported to the sink for that channel and backed
off, while every other channel goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Self

import aiohttp

from monitor.errors import SourceError
from monitor.sources.base import ChannelCursor, IncomingPost, PostSink, WatchList
from monitor.sources.web_page import WebPage, parse_channel_page

logger = logging.getLogger(__name__)

SOURCE_NAME: Final = "web"
DEFAULT_BASE_URL: Final = "https://t.me"
# A browser's string keeps t.me serving the ordinary preview; the suffix says who is asking.
DEFAULT_USER_AGENT: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 chanwatch/0.1"
)
# The "edited" mark and view labels are localised; the parser reads the English ones.
ACCEPT_LANGUAGE: Final = "en-US,en;q=0.9"
MAX_RETRY_AFTER_SECONDS: Final = 3600.0
DEFAULT_BACKOFF_INITIAL_SECONDS: Final = 30.0
_MIN_SLEEP_SECONDS: Final = 0.01
_USERNAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


class RateLimitedError(SourceError):
    """t.me answered 429: wait `retry_after` seconds before asking about this channel again."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class _ChannelState:
    """Per-channel schedule: when to poll next and how many polls failed in a row."""

    next_due: float = 0.0
    failures: int = 0


class WebSource:
    """Polls the public web preview of every channel the watch list gives for source "web"."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        poll_seconds: float,
        sink: PostSink,
        cursor: ChannelCursor,
        watchlist: WatchList,
        timeout_seconds: float = 15.0,
        backoff_initial_seconds: float | None = None,
        backoff_max_seconds: float = 900.0,
        jitter: float = 0.15,
        max_pages_per_poll: int = 50,
        max_concurrency: int = 4,
        user_agent: str = DEFAULT_USER_AGENT,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be a fraction in [0, 1)")
        self._base_url = base_url.rstrip("/")
        self._poll_seconds = poll_seconds
        self._sink = sink
        self._cursor = cursor
        self._watchlist = watchlist
        self._timeout_seconds = timeout_seconds
        # A failed poll is retried no later than the next regular poll would have come: a
        # fixed 30 s first wait kept a channel polled every few seconds dark for many periods
        # after a one-poll blip. Doubling from there still backs off a lasting outage.
        self._backoff_initial = (
            min(DEFAULT_BACKOFF_INITIAL_SECONDS, poll_seconds)
            if backoff_initial_seconds is None
            else backoff_initial_seconds
        )
        self._backoff_max = backoff_max_seconds
        self._jitter = jitter
        self._max_pages = max(1, max_pages_per_poll)
        self._concurrency = asyncio.Semaphore(max(1, max_concurrency))
        self._user_agent = user_agent
        self._session_factory = session_factory
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._states: dict[str, _ChannelState] = {}
        self._handles: list[str] = []
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Re-read the watch list now (an operator added a channel), not at the next period."""
        self._woken.set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (the next request opens a new one)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def run(self) -> None:
        """Poll every watched channel until cancelled; the session is closed on the way out."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._woken.clear()
                handles = await self._watched_handles()
                now = loop.time()
                due = [handle for handle in handles if self._state(handle).next_due <= now]
                if due:
                    await asyncio.gather(*(self._poll_limited(handle) for handle in due))
                # Wake for the next due channel, and at least every poll period to re-read the
                # watch list so added channels start without a restart.
                next_due = min(
                    (self._state(handle).next_due for handle in handles),
                    default=loop.time() + self._poll_seconds,
                )
                delay = min(next_due - loop.time(), self._poll_seconds)
                # Not asyncio.wait_for: see LeaseKeeper.run (a stop that came with a wake-up
                # was lost, and the process never exited).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(delay, _MIN_SLEEP_SECONDS)):
                        await self._woken.wait()
        finally:
            await self.close()

    async def poll_channel(self, handle: str) -> None:
        """One full poll of one channel. Raises nothing: failures are reported to the sink."""
        loop = asyncio.get_running_loop()
        state = self._state(handle)
        try:
            await self._poll(handle)
        except asyncio.CancelledError:
            raise
        except RateLimitedError as exc:
            state.failures += 1
            delay = (
                min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
                if exc.retry_after is not None
                else self._backoff_delay(state.failures)
            )
            await self._failed(handle, state, f"{exc}; next try in {_seconds(delay)}", delay)
        except SourceError as exc:
            state.failures += 1
            delay = self._backoff_delay(state.failures)
            await self._failed(handle, state, f"{exc}; next try in {_seconds(delay)}", delay)
        except Exception as exc:  # a bug or a sink failure must not stop the other channels
            state.failures += 1
            delay = self._backoff_delay(state.failures)
            logger.warning("web source: channel %s: unexpected error", handle, exc_info=True)
            message = (
                f"channel {handle}: polling the web preview failed unexpectedly "
                f"({type(exc).__name__}: {exc}); next try in {_seconds(delay)}"
            )
            await self._failed(handle, state, message, delay)
        else:
            state.failures = 0
            state.next_due = loop.time() + self._jittered(self._poll_seconds)
            await self._report(self._sink.source_ok(handle), handle)

    async def fetch_page(self, handle: str, before: int | None = None) -> WebPage:
        """One preview page: the newest posts, or with `before` those older than that id."""
        if not _USERNAME.fullmatch(handle):
            raise SourceError(
                f"channel {handle}: the web preview needs the channel's public username "
                "(t.me/<name>), not a numeric id"
            )
        url = f"{self._base_url}/s/{handle}"
        params = {"before": str(before)} if before is not None else None
        session = self._get_session()
        try:
            async with session.get(url, params=params) as response:
                _check_status(handle, url, response)
                if response.history and "/s/" not in response.url.path:
                    raise SourceError(
                        f"channel {handle}: channel not found: t.me redirected {url} to "
                        f"{response.url}, so there is no public channel by that name "
                        "(or its web preview is disabled)"
                    )
                body = await response.text(errors="replace")
        except TimeoutError as exc:
            raise SourceError(
                f"channel {handle}: {url} did not answer within {_seconds(self._timeout_seconds)}"
            ) from exc
        except aiohttp.ClientError as exc:
            raise SourceError(f"channel {handle}: cannot fetch {url}: {exc}") from exc
        return parse_channel_page(body, handle)

    async def fetch_history(
        self,
        handle: str,
        limit: int,
        *,
        since: datetime | None = None,
        on_page: Callable[[int], object] | None = None,
    ) -> list[IncomingPost]:
        """Up to `limit` of the newest posts (none older than `since`), oldest first.

        Pages back with ?before= as far as needed; raises SourceError like `fetch_page`.
        Nothing is handed to the sink: the caller (backfill) decides what to do with them.
        `on_page` gets the number of posts each page added (a progress bar's update).
        """
        collected: dict[int, IncomingPost] = {}
        before: int | None = None
        # A page holds about 20 posts; the cap only stops a page loop that never ends.
        for _ in range(max(self._max_pages, limit // 10 + 2)):
            page = await self.fetch_page(handle, before)
            older = [post for post in page.posts if before is None or post.post_id < before]
            if not older:
                break
            known = len(collected)
            for post in older:
                if since is None or post.date >= since:
                    collected[post.post_id] = post
            if on_page is not None:
                on_page(min(len(collected), limit) - min(known, limit))
            before = older[0].post_id
            if len(collected) >= limit or (since is not None and older[0].date < since):
                break
        newest = sorted(collected)[-limit:] if limit > 0 else []
        return [collected[post_id] for post_id in newest]

    async def _poll(self, handle: str) -> None:
        last_seen = await self._cursor.last_post_id(handle)
        first = await self.fetch_page(handle)
        if last_seen is None:
            if first.posts:
                await self._sink.handle_posts(first.posts, history=True)
            return
        pages = [first]
        oldest = first.oldest_id
        while oldest is not None and oldest > last_seen + 1:
            if len(pages) >= self._max_pages:
                logger.warning(
                    "web source: channel %s: more than %d pages of new posts since post %d; "
                    "posts older than %d are skipped",
                    handle,
                    self._max_pages,
                    last_seen,
                    oldest,
                )
                break
            page = await self.fetch_page(handle, before=oldest)
            if page.oldest_id is None or page.oldest_id >= oldest:
                break  # the channel's first post is reached: deleted posts leave id holes
            pages.append(page)
            oldest = page.oldest_id
        posts = _merge(pages)
        # Posts up to the cursor are read again only to notice edits of posts already stored;
        # one never stored is older than what this poll asked for (a page repeating old posts):
        # it is kept as history, never alerted, whatever the page claims.
        seen = [post.post_id for post in posts if post.post_id <= last_seen]
        known = await self._cursor.known_post_ids(handle, seen) if seen else set()
        outside = [p for p in posts if p.post_id <= last_seen and p.post_id not in known]
        if outside:
            logger.warning(
                "web source: channel %s: the page returned %d posts at or below post %d that "
                "were never stored; kept as history, not alerted",
                handle,
                len(outside),
                last_seen,
            )
            await self._sink.handle_posts(outside, history=True)
        asked = [p for p in posts if p.post_id > last_seen or p.post_id in known]
        if asked:
            await self._sink.handle_posts(asked, history=False)

    async def _poll_limited(self, handle: str) -> None:
        async with self._concurrency:
            await self.poll_channel(handle)

    async def _watched_handles(self) -> list[str]:
        try:
            handles = list(dict.fromkeys(await self._watchlist.channels(SOURCE_NAME)))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning(
                "web source: cannot read the watch list; keeping the %d channels known",
                len(self._handles),
                exc_info=True,
            )
            return self._handles
        removed = set(self._states) - set(handles)
        for handle in removed:
            del self._states[handle]
        self._handles = handles
        return handles

    async def _failed(self, handle: str, state: _ChannelState, message: str, delay: float) -> None:
        state.next_due = asyncio.get_running_loop().time() + delay
        logger.warning("web source: %s", message)
        await self._report(self._sink.source_error(handle, message), handle)

    async def _report(self, call: Awaitable[None], handle: str) -> None:
        """Await a sink health call; a failing sink is logged, never fatal to the loop."""
        try:
            await call
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning(
                "web source: channel %s: the sink could not record the channel's state",
                handle,
                exc_info=True,
            )

    def _state(self, handle: str) -> _ChannelState:
        return self._states.setdefault(handle, _ChannelState())

    def _backoff_delay(self, failures: int) -> float:
        exponent = min(failures - 1, 30)
        return min(self._backoff_initial * 2**exponent, self._backoff_max)

    def _jittered(self, seconds: float) -> float:
        return seconds * self._rng.uniform(1 - self._jitter, 1 + self._jitter)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self._timeout_seconds),
                    headers={"User-Agent": self._user_agent, "Accept-Language": ACCEPT_LANGUAGE},
                )
        return self._session


def _check_status(handle: str, url: str, response: aiohttp.ClientResponse) -> None:
    status = response.status
    if status == 200:
        return
    if status == 429:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        raise RateLimitedError(
            f"channel {handle}: t.me is rate limiting us (HTTP 429"
            + (f", Retry-After {_seconds(retry_after)})" if retry_after is not None else ")"),
            retry_after,
        )
    if status == 404:
        raise SourceError(f"channel {handle}: channel not found (HTTP 404 for {url})")
    if status >= 500:
        raise SourceError(f"channel {handle}: t.me is failing (HTTP {status} for {url})")
    raise SourceError(f"channel {handle}: unexpected answer HTTP {status} for {url}")


def _retry_after(raw: str | None) -> float | None:
    # Only the seconds form: t.me sends seconds, and an HTTP date falls back to backoff.
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


def _merge(pages: Iterable[WebPage]) -> Sequence[IncomingPost]:
    posts = {post.post_id: post for page in pages for post in page.posts}
    return [posts[post_id] for post_id in sorted(posts)]


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f} min"
    if value >= 10:
        return f"{value:.0f} s"
    return f"{value:.2g} s"
