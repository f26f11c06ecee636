"""Draw a /trend chart from the real corpus, through the bot's own code path.

The posts of ../shared/data/telegram-news are matched against eval/topics.toml, stored in a
scratch SQLite database exactly as the monitor stores them, counted per day by storage and
drawn by the chart worker: what /trend would send for that corpus. The README's chart is
made with (from the repository root):

    python eval/trend_chart.py --topic visit --topic sanctions --topic south_korea \\
        --topic oreshnik --language en --out docs/trend-en.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.charts.renderer import ChartRenderer
from bot.i18n import LANGUAGES, load_i18n, speaking
from bot.trends import Period, topic_trend, trend_chart
from monitor.ingest import to_record
from monitor.markdown import markdown_to_plain
from monitor.matching import Matcher
from monitor.sources.base import IncomingPost
from storage import Store, TopicSpec

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import EvalInputError, load_rules

DATA = Path("../shared/data/telegram-news")


def read_corpus(data: Path) -> dict[str, list[IncomingPost]]:
    """The corpus's posts by channel file (the file name's numeric id is the handle)."""
    files = sorted(data.glob("*_messages.json"))
    if not files:
        raise EvalInputError(
            f"no corpus at {data}: expected the telegram-news *_messages.json files "
            "(see ../shared/data/README.md), or pass --data DIR"
        )
    channels: dict[str, list[IncomingPost]] = {}
    for path in files:
        handle = path.name.split("_", 1)[0]
        channels[handle] = [
            IncomingPost(
                channel=handle,
                post_id=int(raw["message_id"]),
                date=datetime.fromisoformat(raw["date"]),
                text=markdown_to_plain(raw.get("text") or ""),
            )
            for raw in json.loads(path.read_text(encoding="utf-8"))
        ]
    return channels


async def draw(args: argparse.Namespace) -> int:
    rules = [rule for rule in load_rules(args.topics) if rule.name in args.topic]
    missing = set(args.topic) - {rule.name for rule in rules}
    if missing:
        raise EvalInputError(f"no such topics in {args.topics}: {sorted(missing)}")
    matcher = Matcher.compile(rules)
    corpus = read_corpus(args.data)
    tz = ZoneInfo(args.timezone)
    last = max(post.date for posts in corpus.values() for post in posts).astimezone(tz).date()
    with tempfile.TemporaryDirectory() as scratch:
        store = await Store.open(Path(scratch) / "corpus.db")
        renderer = ChartRenderer()
        try:
            for rule in rules:
                await store.topics.put(
                    TopicSpec(rule.name, rule.terms, rule.require, rule.exclude)
                )
            for handle, posts in corpus.items():
                await store.channels.add(handle, "web")
                records = [to_record(post, matcher) for post in posts]
                await store.posts.save(handle, records, history=True)
            topics = [
                t for name in args.topic for t in await store.topics.live() if t.name == name
            ]
            with speaking(load_i18n(), args.language):
                trend = await topic_trend(store, topics, Period.ending(last, args.days, tz))
                spec, caption = trend_chart(trend)
            png = await renderer.render(spec)
        finally:
            await renderer.close()
            await store.close()
    if png is None:
        print("trend_chart: the chart could not be drawn (see the log above)", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"{args.out}: {len(png):,} bytes, {sum(len(p) for p in corpus.values()):,} posts")
    print(caption)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--topics", type=Path, default=Path("eval/topics.toml"))
    parser.add_argument("--topic", action="append", required=True, help="repeat for more")
    parser.add_argument("--days", type=int, choices=(7, 30, 90), default=90)
    parser.add_argument("--language", choices=LANGUAGES, default="en")
    parser.add_argument("--timezone", default="Europe/Moscow")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(draw(args))
    except EvalInputError as error:
        print(f"trend_chart: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
