"""`chanwatch scan` and `chanwatch import`: Telegram Desktop exports, no Telegram needed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Final, TextIO

from tqdm import tqdm

from chanwatch.config import Config
from monitor.errors import ExportError
from monitor.matching import Matcher, TopicRule
from monitor.sources.base import IncomingPost
from monitor.sources.export import ExportChannel, read_export

_BATCH: Final = 500


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
    out: TextIO | None = None,
) -> int:
    """Print the matching posts of each export; returns the exit status."""
    out = out or sys.stdout
    matcher = config_matcher(config)
    if fmt == "table":
        print(f"{'date':<20} {'channel':<24} {'id':>8}  topics: terms", file=out)
    found = 0
    for path in exports:
        channel, posts = read_export(path)
        for post in _progress(posts, channel, progress):
            matches = matcher.match(post.text)
            if not matches:
                continue
            found += 1
            terms: dict[str, None] = {}
            for match in matches:
                for hit in match.hits:
                    terms.setdefault(hit.text, None)
            topics = [m.topic for m in matches]
            if fmt == "jsonl":
                record = {
                    "channel": channel.name,
                    "channel_id": channel.id,
                    "message_id": post.post_id,
                    "date": post.date.isoformat(),
                    "topics": topics,
                    "terms": list(terms),
                }
                print(json.dumps(record, ensure_ascii=False), file=out)
            else:
                print(
                    f"{post.date:%Y-%m-%d %H:%M:%S} {channel.name[:24]:<24} {post.post_id:>8}  "
                    f"{', '.join(topics)}: {', '.join(terms)}",
                    file=out,
                )
    print(f"chanwatch: {found} matching post(s) in {len(exports)} export(s)", file=sys.stderr)
    return 0


async def import_exports(
    config: Config, exports: Sequence[Path], *, channel: str | None, progress: bool
) -> int:
    """Store every post of the exports as history: searchable, in /recent, never alerted."""
    from monitor.ingest import Ingest, SilentListener
    from monitor.sources.handles import normalize_handle
    from storage import Store, TopicSpec

    handle = None
    if channel is not None:
        if len(exports) > 1:
            raise ExportError("--channel names one channel: import one export at a time with it")
        handle = normalize_handle(channel)
    # Fail on a bad export before touching the database.
    opened = [read_export(path, handle=handle) for path in exports]
    store = await Store.open(config.database)
    try:
        await store.topics.sync_config(
            [TopicSpec(t.name, t.terms, t.require, t.exclude) for t in config.topics]
        )
        ingest = await Ingest.open(store, SilentListener())
        for export, posts in opened:
            await store.channels.ensure(export.handle, "telegram", export.name)
            stored = 0
            iterator = iter(_progress(posts, export, progress))
            while batch := list(islice(iterator, _BATCH)):
                await ingest.handle_posts(batch, history=True)
                stored += len(batch)
            print(
                f"chanwatch: {export.name}: {stored} post(s) imported as {export.handle}",
                file=sys.stderr,
            )
    finally:
        await store.close()
    return 0
