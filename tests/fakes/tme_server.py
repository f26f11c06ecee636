"""A local stand-in for https://t.me/s/<channel>: a real HTTP server for tests.

Pages are generated from in-memory post lists with the markup of the real preview (modelled
on the saved pages in tests/fixtures/tme): 20 posts per page, ``?before=ID`` paging, albums,
reply quotes, the edited mark, views. Faults are injected per channel (429 with Retry-After,
5xx, garbage pages, 404, stalls). Every request is recorded. Only aiohttp and the standard
library are used, so end-to-end tests can run it next to a chanwatch subprocess.

    async with TmeServer() as server:
        first = server.add_post("pul_1", "hello")
        server.fail("pul_1", status=429, times=2, retry_after=1)
        ... WebSource(base_url=server.base_url, ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self

from aiohttp import web

PAGE_SIZE: Final = 20
DEFAULT_GARBAGE: Final = (
    "<html><body><p>Something went wrong. Please try again later.</p></body></html>"
)


@dataclass(frozen=True, slots=True)
class TmeRequest:
    """One request the server received."""

    path: str
    query: dict[str, str]

    @property
    def before(self) -> int | None:
        raw = self.query.get("before")
        return int(raw) if raw is not None and raw.isdigit() else None


@dataclass(frozen=True, slots=True)
class ServedPage:
    """A channel page the server answered with posts (for timing what a client could see)."""

    handle: str
    post_ids: tuple[int, ...]
    at: float
    """The server's clock (time.monotonic() unless given another) when the page was built."""


@dataclass(slots=True)
class FakePost:
    post_id: int
    text: str
    date: datetime
    views: int | None = None
    edited: bool = False
    forwarded_from: str | None = None
    reply_to: int | None = None
    album_size: int = 1
    text_html: str | None = None
    """Markup used verbatim as the post's text (for links, formatting); else `text` escaped."""
    deleted: bool = False


@dataclass(slots=True)
class _Fault:
    times: int | None
    """How many more requests this fault answers; None = until `clear_faults`."""
    status: int = 200
    retry_after: float | None = None
    body: str | None = None
    delay: float = 0.0


@dataclass(slots=True)
class _Channel:
    handle: str
    title: str
    posts: dict[int, FakePost] = field(default_factory=dict)
    next_id: int = 1
    repeated: tuple[int, ...] = ()
    """Old posts the newest page shows besides its own (a misbehaving server or proxy)."""


class TmeServer:
    """An aiohttp server on 127.0.0.1 (a free port) that serves t.me/s-style channel pages."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests: list[TmeRequest] = []
        self.served: list[ServedPage] = []
        """Every channel page answered normally, with the ids of the posts on it."""
        self._served_changed = asyncio.Condition()
        self._clock = clock
        self._channels: dict[str, _Channel] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/s/{name}", self._channel_page)
        app.router.add_get("/{name}", self._contact_page)
        app.router.add_get("/", self._main_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._closing.set()  # releases stalled handlers at once
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
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("TmeServer is not started")
        return self._base_url

    # -- content -----------------------------------------------------------------------------

    def add_channel(self, handle: str, title: str | None = None, *, first_id: int = 1) -> None:
        """Create an empty channel (posts created by `add_post` create it implicitly)."""
        key = handle.lower()
        if key not in self._channels:
            self._channels[key] = _Channel(handle, title or handle, next_id=first_id)
        elif title is not None:
            self._channels[key].title = title

    def repeat_old_posts(self, handle: str, post_ids: Iterable[int]) -> None:
        """From now on the newest page also shows these old posts, as a broken cache might."""
        self._channels[handle.lower()].repeated = tuple(post_ids)

    def remove_channel(self, handle: str) -> None:
        """Make the channel vanish: its page redirects to the contact page, as t.me does."""
        self._channels.pop(handle.lower(), None)

    def add_post(
        self,
        handle: str,
        text: str = "",
        *,
        date: datetime | None = None,
        views: int | None = 1200,
        edited: bool = False,
        forwarded_from: str | None = None,
        reply_to: int | None = None,
        album_size: int = 1,
        text_html: str | None = None,
    ) -> int:
        """Publish a post; returns its id. An album of n media uses n ids, shown as one post."""
        self.add_channel(handle)
        channel = self._channels[handle.lower()]
        post_id = channel.next_id
        channel.next_id += max(1, album_size)
        channel.posts[post_id] = FakePost(
            post_id=post_id,
            text=text,
            date=date or datetime.now(UTC).replace(microsecond=0),
            views=views,
            edited=edited,
            forwarded_from=forwarded_from,
            reply_to=reply_to,
            album_size=max(1, album_size),
            text_html=text_html,
        )
        return post_id

    def add_posts(self, handle: str, count: int, text: str = "post {n}") -> list[int]:
        return [self.add_post(handle, text.format(n=n)) for n in range(1, count + 1)]

    def edit_post(self, handle: str, post_id: int, text: str) -> None:
        post = self._post(handle, post_id)
        post.text = text
        post.text_html = None
        post.edited = True

    def delete_post(self, handle: str, post_id: int) -> None:
        self._post(handle, post_id).deleted = True

    def skip_ids(self, handle: str, count: int) -> None:
        """Leave an id hole, as posts deleted before anyone saw them do."""
        self.add_channel(handle)
        self._channels[handle.lower()].next_id += count

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        handle: str,
        *,
        status: int,
        times: int | None = 1,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` requests for the channel with `status` (e.g. 429, 503, 404)."""
        self._faults.setdefault(handle.lower(), []).append(
            _Fault(times=times, status=status, retry_after=retry_after, body=body)
        )

    def serve_garbage(
        self, handle: str, *, times: int | None = 1, body: str = DEFAULT_GARBAGE
    ) -> None:
        """Answer 200 with a page that is HTML but no channel preview (a login wall, an error)."""
        self._faults.setdefault(handle.lower(), []).append(
            _Fault(times=times, status=200, body=body)
        )

    def stall(self, handle: str, seconds: float, *, times: int | None = 1) -> None:
        """Wait `seconds` before answering normally (longer than the client's timeout)."""
        self._faults.setdefault(handle.lower(), []).append(_Fault(times=times, delay=seconds))

    def clear_faults(self, handle: str | None = None) -> None:
        if handle is None:
            self._faults.clear()
        else:
            self._faults.pop(handle.lower(), None)

    async def wait_served(
        self,
        handles: Iterable[str],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until a page of each channel has been answered normally at least once (so a
        poller has seen its posts: they are history to it)."""
        wanted = {handle.lower() for handle in handles}
        async with asyncio.timeout(timeout), self._served_changed:
            await self._served_changed.wait_for(
                lambda: wanted <= {page.handle.lower() for page in self.served}
            )

    def first_served(self, handle: str, post_id: int) -> float | None:
        """When a page showing the post was first answered (None: not yet)."""
        key = handle.lower()
        return next(
            (
                page.at
                for page in self.served
                if page.handle.lower() == key and post_id in page.post_ids
            ),
            None,
        )

    def requests_for(self, handle: str) -> list[TmeRequest]:
        path = f"/s/{handle}".lower()
        return [request for request in self.requests if request.path.lower() == path]

    # -- handlers ----------------------------------------------------------------------------

    async def _channel_page(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(TmeRequest(request.path, dict(request.query)))
        fault = self._take_fault(name)
        if fault is not None:
            if fault.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay)
            if fault.status != 200 or fault.body is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                return web.Response(
                    status=fault.status,
                    text=fault.body if fault.body is not None else f"status {fault.status}",
                    content_type="text/html",
                    headers=headers,
                )
        channel = self._channels.get(name.lower())
        if channel is None:
            # t.me sends names without a public channel preview to their contact page.
            return web.Response(status=302, headers={"Location": f"/{name}"})
        before_raw = request.query.get("before", "")
        before = int(before_raw) if before_raw.isdigit() else None
        page = _page_posts(channel, before)
        self.served.append(
            ServedPage(channel.handle, tuple(post.post_id for post in page), self._clock())
        )
        async with self._served_changed:
            self._served_changed.notify_all()
        return web.Response(text=_render_channel(channel, before), content_type="text/html")

    async def _contact_page(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(TmeRequest(request.path, dict(request.query)))
        name = html.escape(request.match_info["name"])
        return web.Response(text=_CONTACT_PAGE.format(name=name), content_type="text/html")

    async def _main_page(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(TmeRequest(request.path, dict(request.query)))
        return web.Response(text=_MAIN_PAGE, content_type="text/html")

    def _take_fault(self, name: str) -> _Fault | None:
        faults = self._faults.get(name.lower())
        while faults:
            fault = faults[0]
            if fault.times is None:
                return fault
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    faults.pop(0)
                return fault
            faults.pop(0)
        return None

    def _post(self, handle: str, post_id: int) -> FakePost:
        return self._channels[handle.lower()].posts[post_id]


def _visible(channel: _Channel, before: int | None) -> list[FakePost]:
    return [
        post
        for post_id, post in sorted(channel.posts.items())
        if not post.deleted and (before is None or post_id < before)
    ]


def _page_posts(channel: _Channel, before: int | None) -> list[FakePost]:
    page = _visible(channel, before)[-PAGE_SIZE:]
    if before is None and channel.repeated:
        extra = [channel.posts[post_id] for post_id in channel.repeated]
        page = sorted({post.post_id: post for post in [*extra, *page]}.values(), key=_post_id)
    return page


def _post_id(post: FakePost) -> int:
    return post.post_id


def _render_channel(channel: _Channel, before: int | None) -> str:
    visible = _visible(channel, before)
    page = _page_posts(channel, before)
    has_older = len(visible) > len(page)
    handle = html.escape(channel.handle)
    title = html.escape(channel.title)
    more = prev = ""
    if has_older:
        oldest = page[0].post_id
        prev = f'<link rel="prev" href="/s/{handle}?before={oldest}">'
        more = (
            '<div class="tgme_widget_message_centered js-messages_more_wrap">'
            f'<a href="/s/{handle}?before={oldest}" class="tme_messages_more js-messages_more"'
            f' data-before="{oldest}"></a></div>'
        )
    widgets = "\n".join(_render_post(channel, post) for post in page)
    return _CHANNEL_PAGE.format(handle=handle, title=title, prev=prev, more=more, widgets=widgets)


def _render_post(channel: _Channel, post: FakePost) -> str:
    handle = html.escape(channel.handle)
    title = html.escape(channel.title)
    parts: list[str] = []
    if post.forwarded_from is not None:
        parts.append(
            '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from&nbsp;'
            '<a class="tgme_widget_message_forwarded_from_name" href="https://t.me/source/1">'
            f'<span dir="auto">{html.escape(post.forwarded_from)}</span></a></div>'
        )
    if post.reply_to is not None:
        quoted = channel.posts.get(post.reply_to)
        quoted_html = _text_html(quoted) if quoted is not None else "Deleted message"
        parts.append(
            f'<a class="tgme_widget_message_reply" href="https://t.me/{handle}/{post.reply_to}">'
            '<div class="tgme_widget_message_author accent_color">'
            f'<span class="tgme_widget_message_author_name" dir="auto">{title}</span></div>'
            f'<div class="tgme_widget_message_text js-message_reply_text" dir="auto">'
            f"{quoted_html}</div></a>"
        )
    if post.album_size > 1:
        media = "".join(
            '<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo"'
            f' href="https://t.me/{handle}/{post.post_id + index}?single">'
            '<div class="grouped_media_helper"><div class="tgme_widget_message_photo'
            ' grouped_media"></div></div></a>'
            for index in range(post.album_size)
        )
        parts.append(
            '<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap">'
            '<div class="tgme_widget_message_grouped js-message_grouped">'
            f'<div class="tgme_widget_message_grouped_layer js-message_grouped_layer">{media}'
            "</div></div></div>"
        )
    if post.text or post.text_html:
        parts.append(
            '<div class="tgme_widget_message_text js-message_text" dir="auto">'
            f"{_text_html(post)}</div>"
        )
    views = (
        f'<span class="tgme_widget_message_views">{_views(post.views)}</span>'
        '<span class="copyonly"> views</span>'
        if post.views is not None
        else ""
    )
    edited = "edited &nbsp;" if post.edited else ""
    return _WIDGET.format(
        handle=handle,
        title=title,
        post_id=post.post_id,
        body="\n".join(parts),
        views=views,
        edited=edited,
        iso=post.date.astimezone(UTC).isoformat(),
        clock=post.date.strftime("%H:%M"),
    )


def _text_html(post: FakePost) -> str:
    if post.text_html is not None:
        return post.text_html
    return html.escape(post.text).replace("\n", "<br/>")


def _views(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}".removesuffix(".0") + "K"
    return f"{count / 1_000_000:.1f}".removesuffix(".0") + "M"


_CHANNEL_PAGE: Final = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title} – Telegram</title>
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="Telegram">
{prev}
<link rel="canonical" href="/s/{handle}">
</head>
<body class="widget_frame_base tgme_webpreview emoji_image thin_box_shadow tme_mode">
<header class="tgme_header search_collapsed"><div class="tgme_container">
<div class="tgme_header_right_column"><section class="tgme_right_column">
<div class="tgme_channel_info"><div class="tgme_channel_info_header">
<div class="tgme_channel_info_header_title_wrap">
<div class="tgme_channel_info_header_title"><span dir="auto">{title}</span></div>
<div class="tgme_channel_info_header_labels"></div></div>
<div class="tgme_channel_info_header_username"><a href="https://t.me/{handle}">@{handle}</a></div>
</div></div></section></div>
<div class="tgme_header_info"><a class="tgme_header_link" href="https://t.me/{handle}">
<div class="tgme_header_title_wrap"><div class="tgme_header_title"><span dir="auto">{title}</span>
</div></div></a></div>
</div></header>
<main class="tgme_main" data-url="/{handle}"><div class="tgme_container">
<section class="tgme_channel_history js-message_history">
{more}
{widgets}
</section></div></main>
</body>
</html>
"""

_WIDGET: Final = """<div class="tgme_widget_message_wrap js-widget_message_wrap">
<div class="tgme_widget_message text_not_supported_wrap js-widget_message"
 data-post="{handle}/{post_id}">
<div class="tgme_widget_message_user"><a href="https://t.me/{handle}"><i
 class="tgme_widget_message_user_photo bgcolor4" data-content="T"></i></a></div>
<div class="tgme_widget_message_bubble">
<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name"
 href="https://t.me/{handle}"><span dir="auto">{title}</span></a></div>
{body}
<div class="tgme_widget_message_footer compact js-message_footer">
<div class="tgme_widget_message_info short js-message_info">{views}<span
 class="tgme_widget_message_meta">{edited}<a class="tgme_widget_message_date"
 href="https://t.me/{handle}/{post_id}"><time datetime="{iso}"
 class="time">{clock}</time></a></span>
</div></div></div></div></div>"""

_CONTACT_PAGE: Final = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Telegram: Contact @{name}</title>
<meta property="og:title" content="Telegram: Contact @{name}"></head>
<body><div class="tgme_page_wrap"><div class="tgme_page">
<div class="tgme_page_title"><span dir="auto">Telegram</span></div>
<div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact
<a class="tgme_username_link" href="tg://resolve?domain={name}">@{name}</a> right away.</div>
</div></div></body></html>
"""

_MAIN_PAGE: Final = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Telegram Messenger</title>
<meta property="og:title" content="Telegram Messenger"></head>
<body><div class="tgme_page"><div class="tgme_page_title">Telegram</div>
<div class="tgme_page_description">A new era of messaging</div></div></body></html>
"""
