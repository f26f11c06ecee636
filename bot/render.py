"""HTML for everything the bot sends on its own: alerts, list entries and digests.

Pure functions over storage records; nothing here talks to Telegram. Their few fixed words
are in the language `bot.i18n.speaking` (or the i18n middleware) chose.

Telegram applies its 4,096-character limit to the text *after* entity parsing, counted in
UTF-16 code units (an emoji outside the BMP counts two). Every message built here keeps both
that visible length and the raw HTML within the limit, so it is never refused for length
whichever way it is counted. Everything taken from a post is escaped, and text is only ever
cut between characters of the plain text, before escaping and tagging, so a cut can never
land inside a tag or an entity such as ``&amp;``; cuts also avoid splitting an emoji sequence.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, tzinfo
from typing import Final

from bot.i18n import gettext as _
from storage.models import StoredPost, TopicHit

MESSAGE_LIMIT: Final = 4096
ELLIPSIS: Final = "…"
MAX_DIGEST_POSTS: Final = 80
"""A digest lists at most this many posts (the newest); the rest are counted, not listed."""

_TAG: Final = re.compile(r"<[^>]*>")
_CONTEXT_BEFORE: Final = 150
"""Characters shown before the first match when the start of a long post is skipped."""
_SNIPPET: Final = 220
"""Characters of post text in a list entry (/recent, /search, digests)."""
_WORD_LOOKBACK: Final = 40
"""How far back a cut may move to end on a word boundary instead of mid-word."""
_TITLE_MAX: Final = 128
_TOPICS_MAX: Final = 256


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(html_text: str) -> int:
    """Length of the text Telegram shows for this HTML, in UTF-16 code units."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def fits(html_text: str, limit: int = MESSAGE_LIMIT) -> bool:
    """True when both the shown text and the raw HTML are within the limit."""
    return utf16_len(html_text) <= limit and visible_length(html_text) <= limit


def merge_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Spans clamped to the text, sorted, with overlapping and touching ones merged."""
    clean = sorted(
        (max(0, start), min(length, end)) for start, end in spans if min(length, end) > start
    )
    merged: list[tuple[int, int]] = []
    for start, end in clean:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def escape(text: str) -> str:
    """Text for HTML parse mode (outside attributes)."""
    return html.escape(text, quote=False)


def highlight(
    text: str, spans: Sequence[tuple[int, int]], start: int = 0, end: int | None = None
) -> str:
    """`text[start:end]` escaped, with the parts inside `spans` (merged, sorted) in bold."""
    end = len(text) if end is None else end
    out: list[str] = []
    position = start
    for span_start, span_end in spans:
        a, b = max(span_start, position), min(span_end, end)
        if a >= b:
            continue
        out.append(escape(text[position:a]))
        out.append(f"<b>{escape(text[a:b])}</b>")
        position = b
    out.append(escape(text[position:end]))
    return "".join(out)


def no_text() -> str:
    return _("<i>(no text)</i>")


def link(url: str) -> str:
    return f'🔗 <a href="{html.escape(url, quote=True)}">{escape(url)}</a>'


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    end = _snap_back(text, limit - 1, 0)
    return text[:end].rstrip() + ELLIPSIS


def _is_regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _is_boundary(text: str, index: int) -> bool:
    """Whether cutting before text[index] keeps every emoji and accented letter whole."""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if "\u200d" in (before, after) or (before, after) == ("\r", "\n"):
        return False
    if unicodedata.category(after) in ("Mn", "Me", "Mc"):
        return False
    if (
        "\ufe00" <= after <= "\ufe0f"  # variation selectors (emoji presentation)
        or "\U0001f3fb" <= after <= "\U0001f3ff"  # skin tones
        or "\U000e0020" <= after <= "\U000e007f"  # tag characters (subdivision flags)
    ):
        return False
    if _is_regional(before) and _is_regional(after):
        # Flags are pairs of regional indicators: an odd run before the cut splits one.
        run = 0
        while index - run - 1 >= 0 and _is_regional(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def _snap_back(text: str, index: int, floor: int) -> int:
    while index > floor and not _is_boundary(text, index):
        index -= 1
    return index


def _cut_point(text: str, index: int, floor: int) -> int:
    """Where to cut at or before `index`: a word boundary if one is near, never mid-emoji."""
    index = _snap_back(text, index, floor)
    if index < len(text) and not text[index].isspace():
        window_start = max(floor, index - _WORD_LOOKBACK)
        space = max(text.rfind(" ", window_start, index), text.rfind("\n", window_start, index))
        if space > floor:
            index = space
    while index > floor and text[index - 1].isspace():
        index -= 1
    return index


def _lead_start(text: str, at: int, context: int) -> int:
    """Where an excerpt showing text[at] begins: a word start about `context` before it."""
    start = max(0, at - context)
    if start == 0:
        return 0
    space = max(text.rfind(" ", start, at), text.rfind("\n", start, at))
    if space >= 0:
        return space + 1
    while start < at and not _is_boundary(text, start):
        start += 1
    return start


def _excerpt(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    lead = ELLIPSIS if start > 0 else ""
    tail = ELLIPSIS if end < len(text) else ""
    return lead + highlight(text, spans, start, end) + tail


def _fit_excerpt(
    text: str, spans: Sequence[tuple[int, int]], start: int, build: Callable[[str], str]
) -> tuple[str, int]:
    """The longest excerpt from `start` whose message still fits, and where it ends."""
    if fits(build(_excerpt(text, spans, start, len(text)))):
        return _excerpt(text, spans, start, len(text)), len(text)
    low, high = start, len(text)  # the message fits with text[start:low], not with ..high
    while high - low > 1:
        middle = (low + high) // 2
        if fits(build(_excerpt(text, spans, start, middle))):
            low = middle
        else:
            high = middle
    end = _cut_point(text, low, start)
    return _excerpt(text, spans, start, end), end


def _topic_names(post: StoredPost) -> list[str]:
    names: list[str] = []
    for hit in post.hits:
        if hit.topic not in names:
            names.append(hit.topic)
    return names


def _spans(post: StoredPost) -> list[tuple[int, int]]:
    return merge_spans((span for hit in post.hits for span in hit.spans), len(post.text))


ALSO_LISTED: Final = 3
"""Copies named in an alert or a digest entry; more are counted ("+2 more")."""


def _channel_label(post: StoredPost) -> str:
    handle = post.channel_handle
    return post.channel_name if handle.lstrip("-").isdigit() else f"@{handle}"


def also_in(copies: Sequence[StoredPost]) -> str:
    """ "also in @chan2, @chan3 +N more", each channel linked to its copy ("" for none)."""
    if not copies:
        return ""
    named = ", ".join(
        f'<a href="{html.escape(copy.link, quote=True)}">'
        f"{escape(_clip(_channel_label(copy), 64))}</a>"
        for copy in copies[:ALSO_LISTED]
    )
    line = _("↪️ also in {channels}").format(channels=named)
    hidden = len(copies) - ALSO_LISTED
    if hidden > 0:
        line += " " + _("+{count} more", "+{count} more", hidden).format(count=hidden)
    return line


def render_alert(
    post: StoredPost, *, copies: Sequence[StoredPost] = (), more_topics: Sequence[str] = ()
) -> str:
    """An alert for one post: channel, the topics in `post.hits` (and `more_topics`, which
    its copies matched), the text with matched words in bold (cut to fit, keeping the first
    match in view), the link, and where else the story ran (`copies`)."""
    header = f"📢 <b>{escape(_clip(post.channel_name, _TITLE_MAX))}</b>"
    topics = _topic_names(post)
    topics += [name for name in more_topics if name not in topics]
    if topics:
        header += f"\n🏷 {escape(_clip(', '.join(topics), _TOPICS_MAX))}"
    footer = link(post.link)
    if copies:
        footer += "\n" + also_in(copies)

    def build(body: str) -> str:
        return f"{header}\n\n{body}\n\n{footer}"

    text = post.text
    if not text.strip():
        return build(no_text())
    spans = _spans(post)
    body, end = _fit_excerpt(text, spans, 0, build)
    if spans and end < spans[0][1]:
        # The first match is past the cut: show the text around it instead of the opening.
        body, _ = _fit_excerpt(text, spans, _lead_start(text, spans[0][0], _CONTEXT_BEFORE), build)
    return build(body)


def _snippet(post: StoredPost) -> str:
    # One line per entry: whitespace becomes spaces, which keeps the span offsets valid.
    flat = re.sub(r"\s", " ", post.text)
    if not flat.strip():
        return no_text()
    spans = _spans(post)
    start = _lead_start(flat, spans[0][0], _SNIPPET // 3) if spans else 0
    end = len(flat)
    if end - start > _SNIPPET:
        end = _cut_point(flat, start + _SNIPPET, start)
    return _excerpt(flat, spans, start, end)


def _entry(
    post: StoredPost,
    topics: Sequence[str],
    tz: tzinfo | None,
    also: bool = False,
    copies: Sequence[StoredPost] = (),
) -> str:
    when = post.date.astimezone(tz or UTC).strftime("%Y-%m-%d %H:%M")
    head = f"<b>{when}</b> · {escape(_clip(post.channel_name, 64))}"
    if topics:
        names = escape(_clip(", ".join(topics), _TOPICS_MAX))
        head += " · " + (_("also 🏷 {topics}").format(topics=names) if also else f"🏷 {names}")
    if post.copies:
        head += " · " + _("+{count} copy", "+{count} copies", post.copies).format(
            count=post.copies
        )
    entry = f"{head}\n{_snippet(post)}\n{link(post.link)}"
    return f"{entry}\n{also_in(copies)}" if copies else entry


def one_per_story(posts: Sequence[StoredPost]) -> list[tuple[StoredPost, list[StoredPost]]]:
    """Each story's earliest post, in the order the stories first appear in `posts`, with
    the story's other posts (oldest first). The earliest post also names the topics only its
    copies matched (with nothing to highlight: those words are in the copies' text)."""
    stories: dict[int, list[StoredPost]] = {}
    for post in posts:
        stories.setdefault(post.story_key, []).append(post)
    grouped = []
    for members in stories.values():
        first, *copies = sorted(members, key=lambda post: (post.date, post.id))
        topics = {hit.topic for hit in first.hits}
        extra: list[TopicHit] = []
        for copy in copies:
            for hit in copy.hits:
                if hit.topic not in topics:
                    topics.add(hit.topic)
                    extra.append(TopicHit(hit.topic, (), ()))
        grouped.append((replace(first, hits=first.hits + tuple(extra)), copies))
    return grouped


def render_post_line(
    post: StoredPost, *, with_topics: bool = True, tz: tzinfo | None = None
) -> str:
    """A short entry for lists (/recent, /search, digests): date (UTC unless `tz` is given),
    channel, topics, a snippet around the first match with the matched words bold, link."""
    return _entry(post, _topic_names(post) if with_topics else (), tz)


def split_messages(blocks: Sequence[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack HTML blocks, in order and separated by blank lines, into as few messages as fit.

    A block is never split (that could break its tags); one that alone exceeds the limit is
    a caller's bug and raises ValueError.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not fits(block, limit):
            raise ValueError(f"a block of {utf16_len(block)} characters exceeds {limit}")
        candidate = f"{current}\n\n{block}" if current else block
        if fits(candidate, limit):
            current = candidate
        else:
            messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def render_digest(
    posts: Sequence[StoredPost],
    *,
    title: str,
    tz: tzinfo | None = None,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """A digest as one or more messages: posts grouped by topic, newest first, with links.

    A story is listed once, as its earliest post here, under the first of its topics (the
    others are named in its entry), with the channels of its copies. A topic running into
    the next message repeats its heading. No posts, no messages. At most MAX_DIGEST_POSTS
    newest stories are listed; the rest are counted at the end.
    """
    if not posts:
        return []
    newest_first = sorted(posts, key=lambda post: (post.date, post.id), reverse=True)
    ordered = one_per_story(newest_first)
    shown, hidden = ordered[:MAX_DIGEST_POSTS], len(ordered) - MAX_DIGEST_POSTS
    groups: dict[str, list[tuple[StoredPost, list[StoredPost]]]] = {}
    for post, copies in shown:
        names = _topic_names(post)
        groups.setdefault(names[0] if names else _("Other"), []).append((post, copies))

    count = len(ordered)
    header = f"🗞 <b>{escape(_clip(title, _TITLE_MAX))}</b>\n" + _(
        "{count} new post", "{count} new posts", count
    ).format(count=count)
    messages: list[str] = []
    current = header
    for topic, items in groups.items():
        heading = f"🏷 <b>{escape(_clip(topic, _TITLE_MAX))}</b> ({len(items)})"
        for index, (post, copies) in enumerate(items):
            others = [name for name in _topic_names(post) if name != topic]
            entry = _entry(post, others, tz, also=True, copies=copies)
            block = f"{heading}\n\n{entry}" if index == 0 else entry
            candidate = f"{current}\n\n{block}"
            if fits(candidate, limit):
                current = candidate
                continue
            messages.append(current)
            current = block if index == 0 else _("{heading} (continued)").format(heading=heading)
            if index != 0:
                current += f"\n\n{entry}"
    if hidden > 0:
        note = _(
            "<i>…and {count} older post; see /recent</i>",
            "<i>…and {count} older posts; see /recent</i>",
            hidden,
        ).format(count=hidden)
        candidate = f"{current}\n\n{note}"
        if fits(candidate, limit):
            current = candidate
        else:
            messages.append(current)
            current = note
    messages.append(current)
    return messages
