"""Parse one page of a channel's public web preview (``https://t.me/s/<handle>``).

The preview is the only way to read a channel without a Telegram login. Its markup is not an
API, so everything that depends on it lives here, behind `parse_channel_page`, and the rest of
the web source only sees `WebPage` and `IncomingPost`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.errors import SourceError
from monitor.sources.base import IncomingPost

logger = logging.getLogger(__name__)

_WHITESPACE: Final = re.compile(r"[ \t\r\n\f\v]+")
_VIEWS: Final = re.compile(r"(?P<number>\d+(?:[.,]\d+)?)\s*(?P<suffix>[KMB]?)", re.IGNORECASE)
_VIEW_MULTIPLIERS: Final = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
# Elements that start a new line when a browser renders them.
_BLOCK_TAGS: Final = frozenset(
    {"div", "p", "blockquote", "pre", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIPPED_TAGS: Final = frozenset({"script", "style", "template", "svg"})
_TEXT_NODE: Final = "-text"
_SNIPPET_CHARS: Final = 80


@dataclass(frozen=True, slots=True)
class WebPage:
    """One parsed preview page: the channel's title and its posts, oldest first."""

    handle: str
    title: str | None
    posts: tuple[IncomingPost, ...]

    @property
    def oldest_id(self) -> int | None:
        return self.posts[0].post_id if self.posts else None

    @property
    def newest_id(self) -> int | None:
        return self.posts[-1].post_id if self.posts else None


def parse_channel_page(html: str, handle: str) -> WebPage:
    """Parse a t.me/s page of channel `handle`.

    Raises SourceError naming the channel when the page is not a channel preview at all (a
    login wall, the t.me main page a missing channel redirects to, an error page, garbage).
    A channel page that has the channel header but no posts is valid and has no posts.
    """
    tree = LexborHTMLParser(html)
    widgets = tree.css("div.tgme_widget_message[data-post]")
    has_header = tree.css_first(".tgme_channel_info, .tgme_channel_history") is not None
    if not has_header and not widgets:
        raise SourceError(
            f"channel {handle}: t.me did not return a channel preview page "
            f"({_describe_page(tree, html)}); the channel may not exist, be private, "
            "or have its web preview disabled"
        )
    title = _channel_title(tree)
    posts: dict[int, IncomingPost] = {}
    for widget in widgets:
        post = _parse_widget(widget, handle, title)
        if post is not None:
            posts[post.post_id] = post
    return WebPage(handle=handle, title=title, posts=tuple(posts[key] for key in sorted(posts)))


def parse_views(raw: str) -> int | None:
    """The number behind a views counter as t.me shows it: "746", "33.4K", "1.2M"."""
    match = _VIEWS.fullmatch(raw.strip())
    if match is None:
        return None
    number = float(match.group("number").replace(",", "."))
    return round(number * _VIEW_MULTIPLIERS[match.group("suffix").upper()])


def _describe_page(tree: LexborHTMLParser, html: str) -> str:
    """A short description of an unexpected page, for an error message an operator can act on."""
    title_node = tree.css_first("title")
    title = _collapse(title_node.text()) if title_node is not None else ""
    if title:
        return f"got a page titled {title[:_SNIPPET_CHARS]!r}"
    body = _collapse(tree.body.text()) if tree.body is not None else ""
    if body:
        return f"got a page without channel header starting {body[:_SNIPPET_CHARS]!r}"
    if not html.strip():
        return "got an empty page"
    return "got a page without channel header or text"


def _channel_title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first(".tgme_channel_info_header_title")
    if node is not None:
        title = _collapse(node.text())
        if title:
            return title
    meta = tree.css_first('meta[property="og:title"]')
    if meta is not None:
        content = _collapse(meta.attributes.get("content") or "")
        if content:
            return content
    return None


def _parse_widget(widget: LexborNode, handle: str, title: str | None) -> IncomingPost | None:
    data_post = widget.attributes.get("data-post") or ""
    _, _, raw_id = data_post.rpartition("/")
    if not raw_id.isdigit():
        logger.warning(
            "channel %s: skipping a post with unreadable data-post %r", handle, data_post
        )
        return None
    post_id = int(raw_id)
    if "service_message" in (widget.attributes.get("class") or "").split():
        # "Channel created", "photo updated", pins: not something anyone posted.
        return None
    date = _post_date(widget)
    if date is None:
        logger.warning("channel %s: skipping post %d without a publication date", handle, post_id)
        return None
    text_node = _message_text_node(widget)
    views_node = widget.css_first(".tgme_widget_message_views")
    forwarded_node = widget.css_first(".tgme_widget_message_forwarded_from_name")
    is_album = widget.css_first(".tgme_widget_message_grouped_wrap") is not None
    return IncomingPost(
        channel=handle,
        post_id=post_id,
        date=date,
        text=extract_text(text_node) if text_node is not None else _poll_text(widget),
        is_edit=_is_edited(widget),
        forwarded_from=_collapse(forwarded_node.text()) or None if forwarded_node else None,
        views=parse_views(views_node.text()) if views_node is not None else None,
        # The preview shows an album as one widget under its first post id.
        grouped_id=post_id if is_album else None,
        channel_title=title,
    )


def _poll_text(widget: LexborNode) -> str:
    """A poll's question and options, one a line: a poll has no caption but is worth matching."""
    question = widget.css_first(".tgme_widget_message_poll_question")
    if question is None:
        return ""
    lines = [extract_text(question)]
    lines += [extract_text(node) for node in widget.css(".tgme_widget_message_poll_option_text")]
    return "\n".join(line for line in lines if line)


def _post_date(widget: LexborNode) -> datetime | None:
    # Only the date link's <time>: videos and voice notes carry <time> durations too.
    node = widget.css_first("a.tgme_widget_message_date time[datetime]")
    if node is None:
        return None
    raw = node.attributes.get("datetime") or ""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _message_text_node(widget: LexborNode) -> LexborNode | None:
    """The post's own text: the outermost message text that is not part of a reply quote."""
    for node in widget.css(".tgme_widget_message_text.js-message_text"):
        if not _has_ancestor_within(node, widget, _is_reply_or_text):
            return node
    return None


def _is_reply_or_text(node: LexborNode) -> bool:
    classes = (node.attributes.get("class") or "").split()
    return "tgme_widget_message_reply" in classes or "tgme_widget_message_text" in classes


def _has_ancestor_within(
    node: LexborNode, root: LexborNode, predicate: Callable[[LexborNode], bool]
) -> bool:
    parent = node.parent
    while parent is not None and parent.mem_id != root.mem_id:
        if predicate(parent):
            return True
        parent = parent.parent
    return False


def _is_edited(widget: LexborNode) -> bool:
    meta = widget.css_first(".tgme_widget_message_meta")
    if meta is None:
        return False
    # The author signature shares the meta span; only the span's own words count.
    own_words = " ".join(
        child.text_content or ""
        for child in meta.iter(include_text=True)
        if child.tag == _TEXT_NODE
    )
    return "edited" in own_words.lower()


def extract_text(node: LexborNode) -> str:
    """Plain text of a message element as a browser shows it: <br> and blocks become newlines,
    link text stays, tags go, entities are decoded, source indentation is collapsed."""
    parts: list[str] = []
    _append_text(node, parts, preformatted=False)
    lines = [line.strip() for line in "".join(parts).split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _append_text(node: LexborNode, parts: list[str], *, preformatted: bool) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == _TEXT_NODE:
            content = child.text_content or ""
            parts.append(content if preformatted else _WHITESPACE.sub(" ", content))
        elif tag == "br":
            parts.append("\n")
        elif tag in _SKIPPED_TAGS or tag is None or tag.startswith("-"):
            continue
        elif tag in _BLOCK_TAGS:
            _end_line(parts)
            _append_text(child, parts, preformatted=preformatted or tag == "pre")
            _end_line(parts)
        else:
            _append_text(child, parts, preformatted=preformatted)


def _end_line(parts: list[str]) -> None:
    """Start a new line unless one was just started (a block boundary is not a blank line)."""
    for part in reversed(parts):
        if part.strip(" "):
            if not part.rstrip(" ").endswith("\n"):
                parts.append("\n")
            return


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
