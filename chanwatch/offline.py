"""`chanwatch scan` and `chanwatch import`: Telegram Desktop exports, no Telegram needed."""

from __future__ import annotations

import heapq
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TextIO, cast

from tqdm import tqdm

from chanwatch.config import Config
from monitor.errors import ExportError
from monitor.matching import Matcher, TopicRule
from monitor.sources.base import IncomingPost
from monitor.sources.export import ExportChannel, ExportPosts, read_export
from monitor.stories import DEFAULT_WINDOW_HOURS, StoryIndex


def config_matcher(config: Config) -> Matcher:
    return Matcher.compile(
        [TopicRule(t.name, t.terms, t.require, t.exclude) for t in config.topics]
    )


def _progress(
    posts: Iterable[IncomingPost], channel: ExportChannel, enabled: bool
) -> Iterator[IncomingPost]:
    yield from tqdm(
        posts,
        desc=channel.name[:30],
        unit=" posts",
        file=sys.stderr,
        total=channel.message_count or None,
        disable=not enabled or not sys.stderr.isatty(),
        leave=False,
    )


def scan(
    config: Config,
    exports: Sequence[Path],
    *,
    fmt: str,
    progress: bool,
    everything: bool = False,
    stories: bool = True,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    out: TextIO | None = None,
) -> int:
    """Print the matching posts of the exports (every post with `everything`); returns the
    exit status.

    With `stories` (the default) the posts of all exports are read first and printed in
    date order, each with its story: the earliest post of its story among the scanned posts,
    as the story detector would have grouped them live. Without it each export is streamed
    in file order, one at a time, and no story is printed.
    """
    out = out or sys.stdout
    matcher = config_matcher(config)
    # Every export is checked before anything is printed.
    opened = [read_export(path) for path in exports]
    if fmt == "table":
        print(f"{'date':<20} {'channel':<24} {'id':>8}  topics: terms", file=out)
    printer = _Printer(matcher, fmt, everything, out)
    if stories:
        index = StoryIndex(window_hours)
        # Every post read before the first decision: the detector, run between the reads
        # of the posts, took a tenth more CPU over the corpus (its data no longer in the
        # caches), and the posts cost about what the exports' bytes they replace did
        # (135 MB at the peak against 128 MB streamed).
        for channel, post in list(in_date_order(opened, progress)):
            ref = index.assign(channel.id, post.post_id, post.date, post.text)
            # The index was given export channel ids, so a story's channel is one.
            printer.post(channel, post, (cast(int, ref.channel), ref.message_id))
    else:
        for channel, posts in opened:
            for post in _progress(posts, channel, progress):
                printer.post(channel, post, None)
    what = "post(s)" if everything else "matching post(s)"
    print(f"chanwatch: {printer.printed} {what} in {len(exports)} export(s)", file=sys.stderr)
    return 0


def in_date_order(
    opened: Sequence[tuple[ExportChannel, ExportPosts]], progress: bool
) -> Iterator[tuple[ExportChannel, IncomingPost]]:
    """The posts of all exports by publication date (ties: channel id, then post id), as the
    story detector wants them, read one at a time: an export that comes in date order (as
    Telegram Desktop writes them) is merged as it is read, so the posts are never all held
    at once; one that does not is sorted on its own first."""

    def keyed(
        channel: ExportChannel, posts: ExportPosts
    ) -> Iterator[tuple[tuple[datetime, int, int], ExportChannel, IncomingPost]]:
        for post in posts:
            yield (post.date, channel.id, post.post_id), channel, post

    streams: list[Iterable[tuple[tuple[datetime, int, int], ExportChannel, IncomingPost]]] = []
    for channel, posts in opened:
        stream = keyed(channel, posts)
        streams.append(stream if posts.in_date_order else sorted(stream, key=_first))
    merged = ((channel, post) for _, channel, post in heapq.merge(*streams, key=_first))
    yield from tqdm(
        merged,
        desc="posts by date",
        unit=" posts",
        file=sys.stderr,
        total=sum(channel.message_count for channel, _ in opened) or None,
        disable=not progress or not sys.stderr.isatty(),
        leave=False,
    )


def _first(
    item: tuple[tuple[datetime, int, int], ExportChannel, IncomingPost],
) -> tuple[datetime, int, int]:
    return item[0]


class _Printer:
    """One line per post, in the chosen format."""

    def __init__(self, matcher: Matcher, fmt: str, everything: bool, out: TextIO) -> None:
        self._matcher = matcher
        self._fmt = fmt
        self._everything = everything
        self._out = out
        self.printed = 0

    def post(
        self, channel: ExportChannel, post: IncomingPost, story: tuple[int, int] | None
    ) -> None:
        matches = self._matcher.match(post.text)
        if not matches and not self._everything:
            return
        self.printed += 1
        terms: dict[str, None] = {}
        for match in matches:
            for hit in match.hits:
                terms.setdefault(hit.text, None)
        topics = [m.topic for m in matches]
        if self._fmt == "jsonl":
            record: dict[str, object] = {
                "channel": channel.name,
                "channel_id": channel.id,
                "message_id": post.post_id,
                "date": post.date.isoformat(),
                "topics": topics,
                "terms": list(terms),
            }
            if story is not None:
                record["story"] = list(story)
            print(json.dumps(record, ensure_ascii=False), file=self._out)
            return
        copy = ""
        if story is not None and story != (channel.id, post.post_id):
            copy = f"  (copy of {story[0]}/{story[1]})"
        found = f"{', '.join(topics)}: {', '.join(terms)}" if matches else "-"
        print(
            f"{post.date:%Y-%m-%d %H:%M:%S} {channel.name[:24]:<24} {post.post_id:>8}  "
            f"{found}{copy}",
            file=self._out,
        )


async def import_exports(
    config: Config, exports: Sequence[Path], *, channel: str | None, progress: bool
) -> int:
    """Store every post of the exports as history: searchable, in /recent, never alerted.

    The posts of all exports are stored in date order, grouped into stories with each other
    and with the posts already stored, as the detector would have grouped them live (see
    `monitor.history`); with stories off each post stays a story of its own."""
    from collections import Counter

    from monitor.history import BATCH, HistoryStories
    from monitor.ingest import Ingest, SilentListener
    from monitor.matching import Lemmatizer
    from monitor.sources.base import PostSink
    from monitor.sources.handles import normalize_handle
    from storage import Store, TopicSpec

    handle = None
    if channel is not None:
        if len(exports) > 1:
            raise ExportError("--channel names one channel: import one export at a time with it")
        handle = normalize_handle(channel)
    # Fail on a bad export before touching the database.
    opened = [read_export(path, handle=handle) for path in exports]
    store = await Store.open(config.database, lemmatizer=Lemmatizer())
    try:
        await store.topics.sync_config(
            [TopicSpec(t.name, t.terms, t.require, t.exclude) for t in config.topics]
        )
        ingest = await Ingest.open(store, SilentListener())
        window = config.stories.window
        grouping = HistoryStories(ingest, store, window) if window is not None else None
        sink: PostSink = grouping or ingest
        for export, _ in opened:
            await store.channels.ensure(export.handle, "telegram", export.name)
        # By export (two exports of one channel are counted apart).
        stored: Counter[int] = Counter()
        posts = in_date_order(opened, progress)
        while batch := list(islice(posts, BATCH)):
            await sink.handle_posts([post for _, post in batch], history=True)
            stored.update(id(export) for export, _ in batch)
        for export, _ in opened:
            print(
                f"chanwatch: {export.name}: {stored[id(export)]} post(s) imported as "
                f"{export.handle}",
                file=sys.stderr,
            )
        if grouping is not None:
            print(
                f"chanwatch: {grouping.grouped} post(s) joined an earlier post's story",
                file=sys.stderr,
            )
    finally:
        await store.close()
    return 0
