"""The `chanwatch` command: check, run, login, scan, import, backfill, migrate-storage,
backup, reindex."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO
from urllib.parse import urlsplit

from chanwatch.config import DEFAULT_PATH, Config, check_postgres_url, load_config
from chanwatch.errors import ConfigError
from chanwatch.logs import setup_logging
from chanwatch.maintenance import REINDEX_BATCH
from storage import RetentionPolicy
from storage.errors import ChanwatchError
from storage.models import ROLES
from storage.postgres import redact

if TYPE_CHECKING:
    from monitor.sources.telegram_login import ClientFactory

logger = logging.getLogger("chanwatch")

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"chanwatch: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-01-31 or 2026-01-31T12:00, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chanwatch",
        description="Watch Telegram channels for topics in any inflected form; "
        "alert and digest subscribers through a bot.",
    )
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_PATH,
        metavar="FILE",
        help=f"configuration file (default: ./{DEFAULT_PATH})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    commands.add_parser(
        "check", parents=[common], help="validate the config and print what would be watched"
    )
    run = commands.add_parser(
        "run", parents=[common], help="watch channels, store matches, run the bot (until Ctrl-C)"
    )
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: everything in one process (default); monitor: read channels and store "
        "matches; bot: poll and send (monitor and bot need PostgreSQL)",
    )
    login = commands.add_parser(
        "login", parents=[common], help="log the Telethon user client in (interactive, once)"
    )
    login.add_argument("--phone", help="phone number in international format (asked if omitted)")
    login.add_argument(
        "--account",
        metavar="NAME",
        help="which [[telegram.accounts]] to log in (needed when several are configured)",
    )
    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="print posts of Telegram Desktop exports that match, each with its story",
    )
    scan.add_argument("exports", nargs="+", type=Path, metavar="EXPORT.json")
    scan.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    scan.add_argument(
        "--all", action="store_true", help="print every post, matched or not (topics may be empty)"
    )
    scan.add_argument(
        "--no-stories",
        action="store_true",
        help="no story grouping: stream each export in file order, one at a time",
    )
    scan.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    imp = commands.add_parser(
        "import", parents=[common], help="store Telegram Desktop exports as history (no alerts)"
    )
    imp.add_argument("exports", nargs="+", type=Path, metavar="EXPORT.json")
    imp.add_argument(
        "--channel",
        metavar="HANDLE",
        help="the channel's t.me username (exports do not record it; default: its numeric id)",
    )
    imp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    backfill = commands.add_parser(
        "backfill", parents=[common], help="load a watched channel's history (no alerts)"
    )
    backfill.add_argument("handle", metavar="HANDLE")
    limits = backfill.add_mutually_exclusive_group()
    limits.add_argument("--limit", type=_positive, metavar="N", help="at most N newest posts")
    limits.add_argument("--since", type=_date, metavar="DATE", help="posts since DATE (UTC)")
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help="write a consistent copy of the database (safe while `run` runs)",
    )
    backup.add_argument("file", type=Path, metavar="FILE")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    reindex = commands.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the search index after a morphology upgrade (online, resumable)",
    )
    reindex.add_argument(
        "--batch",
        type=_positive,
        default=REINDEX_BATCH,
        metavar="N",
        help=f"posts per transaction (default: {REINDEX_BATCH})",
    )
    reindex.add_argument(
        "--force", action="store_true", help="rebuild even if the index is up to date"
    )
    reindex.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    migrate = commands.add_parser(
        "migrate-storage",
        parents=[common],
        help="copy the SQLite database (storage.path) into an empty PostgreSQL database",
    )
    migrate.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://user@host:5432/dbname (default: storage.url of the config)",
    )
    migrate.add_argument(
        "--batch", type=_positive, default=1000, metavar="N", help="rows per committed batch"
    )
    migrate.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def main(argv: Sequence[str] | None = None, *, client_factory: ClientFactory | None = None) -> int:
    """The console command. `client_factory` builds Telethon clients (tests pass an in-memory
    Telegram; TelegramClient otherwise)."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"chanwatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(
        config.log_level if args.command == "run" else "WARNING",
        secrets=(
            config.bot.token,
            config.telegram.api_hash,
            urlsplit(config.storage_url or "").password or "",
            *(account.api_hash for account in config.telegram.accounts),
        ),
    )
    try:
        if args.command == "check":
            return check(config, sys.stdout)
        if args.command == "scan":
            from chanwatch.offline import scan

            return scan(
                config,
                args.exports,
                fmt=args.format,
                progress=not args.no_progress,
                everything=args.all,
                stories=not args.no_stories,
                window_hours=config.stories.window_hours,
            )
        if args.command == "import":
            from chanwatch.offline import import_exports

            return asyncio.run(
                import_exports(
                    config, args.exports, channel=args.channel, progress=not args.no_progress
                )
            )
        if args.command == "login":
            from chanwatch.telegram import login

            return asyncio.run(
                login(
                    config, phone=args.phone, account=args.account, client_factory=client_factory
                )
            )
        if args.command == "backfill":
            from chanwatch.telegram import backfill

            return asyncio.run(
                backfill(
                    config,
                    args.handle,
                    limit=args.limit,
                    since=args.since,
                    progress=not args.no_progress,
                    client_factory=client_factory,
                )
            )
        if args.command == "backup":
            from chanwatch.maintenance import backup

            return asyncio.run(backup(config, args.file, force=args.force))
        if args.command == "reindex":
            from chanwatch.maintenance import reindex

            return asyncio.run(
                reindex(config, batch=args.batch, force=args.force, progress=not args.no_progress)
            )
        if args.command == "migrate-storage":
            from chanwatch.migrate import migrate_storage

            target = _target_url(args.to or config.storage_url)
            return asyncio.run(
                migrate_storage(config, target, batch=args.batch, progress=not args.no_progress)
            )
        from chanwatch.app import run

        return asyncio.run(run(config, role=args.role, client_factory=client_factory))
    except ConfigError as error:
        print(f"chanwatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ChanwatchError as error:
        print(f"chanwatch: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("chanwatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `chanwatch scan … | head`: the reader left; that is not an error worth a traceback.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK


def _target_url(url: str | None) -> str:
    def refuse(message: str) -> ConfigError:
        return ConfigError(f"migrate-storage --to: {message}")

    if not url:
        raise refuse(
            "name the PostgreSQL database, e.g. postgresql://chanwatch@localhost/chanwatch"
        )
    return check_postgres_url(url, refuse)


def check(config: Config, out: TextIO) -> int:
    """Print the plan; warn about what would stop `run`."""
    from chanwatch.offline import config_matcher

    config_matcher(config)  # a bad term fails here, as it would at start-up
    print(f"config {config.path}: OK", file=out)
    if config.storage_url:
        print(f"database: {redact(config.storage_url)} (PostgreSQL)", file=out)
    else:
        print(f"database: {config.storage_path} (SQLite)", file=out)
    print(f"retention: {retention_summary(config.retention)}", file=out)
    token = "set" if config.bot.token else "MISSING"
    print(
        f"bot: {config.bot.api_base} (token {token}, {len(config.bot.admins)} operator(s))",
        file=out,
    )
    print(f"digest default: {config.digest.time} {config.digest.timezone}", file=out)
    if config.stories.enabled:
        hours = f"{config.stories.window_hours:g}"
        print(f"stories: copies within {hours} h are grouped into one alert", file=out)
    else:
        print("stories: off (every copy alerts)", file=out)
    if config.metrics.listen is None:
        print("metrics: off (set metrics.listen to serve /metrics and /healthz)", file=out)
    else:
        host, port = config.metrics.listen
        print(f"metrics: http://{host}:{port}/metrics and /healthz", file=out)
    telegram = config.telegram
    if any(channel.source == "telegram" for channel in config.channels):
        print(
            f"telegram accounts ({len(telegram.accounts)}, up to "
            f"{telegram.channels_per_account} channels each):",
            file=out,
        )
        for account in telegram.accounts:
            print(f"  {account.name}: session {account.session}", file=out)
    print(f"channels ({len(config.channels)}):", file=out)
    for channel in config.channels:
        where = (
            f"{config.web.base_url}/s/{channel.handle} every {config.web.poll_seconds:g}s"
            if channel.source == "web"
            else "a Telegram account (assigned at start)"
            if len(telegram.accounts) > 1
            else "Telethon user client"
        )
        print(f"  {channel.handle} [{channel.source}] via {where}", file=out)
    print(f"topics ({len(config.topics)}):", file=out)
    for topic in config.topics:
        line = f"  {topic.name}: {', '.join(topic.terms)}"
        if topic.require:
            line += f" | require: {', '.join(topic.require)}"
        if topic.exclude:
            line += f" | exclude: {', '.join(topic.exclude)}"
        print(line, file=out)
    for warning in config_warnings(config):
        print(f"warning: {warning}", file=out)
    return EXIT_OK


def retention_summary(policy: RetentionPolicy) -> str:
    def days(count: int) -> str:
        return f"{count} days" if count else "forever"

    return (
        f"posts without matches kept {days(policy.keep_days)}, "
        f"posts with matches kept {days(policy.keep_matched_days)}"
    )


def config_warnings(config: Config) -> list[str]:
    warnings = []
    keep, keep_matched = config.retention.keep_days, config.retention.keep_matched_days
    if keep_matched and (not keep or keep_matched < keep):
        warnings.append(
            "storage.keep_matched_days is shorter than storage.keep_days: posts that matched "
            "a topic are deleted before posts that matched nothing"
        )
    if not config.bot.token:
        warnings.append(
            f"bot.token is empty: set it in {config.path} or CHANWATCH_BOT_TOKEN "
            "before `chanwatch run`"
        )
    if not config.bot.admins:
        warnings.append("bot.admins is empty: nobody can run operator commands")
    telegram = config.telegram
    watched = sum(1 for c in config.channels if c.source == "telegram")
    if watched:
        from chanwatch.telegram import credentials_missing
        from monitor.sources.session_files import session_file

        for account in telegram.accounts:
            problem = credentials_missing(config, account)
            if problem:
                warnings.append(f"telegram channels are configured but {problem}")
            elif not session_file(account.session).exists():
                warnings.append(
                    f"telegram session {account.session} does not exist: "
                    f"run `{telegram.login_command(account)}` first"
                )
        room = len(telegram.accounts) * telegram.channels_per_account
        if watched > room:
            warnings.append(
                f"{watched} telegram channels but room for {room} "
                f"({len(telegram.accounts)} account(s) × telegram.channels_per_account "
                f"{telegram.channels_per_account}): the rest stay unassigned"
            )
        if telegram.channels_per_account > 500:
            warnings.append(
                f"telegram.channels_per_account is {telegram.channels_per_account}: Telegram "
                "refuses joins past about 500 channels (1,000 with Premium)"
            )
    if not config.topics:
        warnings.append("no [[topics]] configured: nothing will match until operators add some")
    return warnings


if __name__ == "__main__":
    raise SystemExit(main())
