"""The TOML configuration: read, check every key, and turn into frozen settings.

Every problem is reported as one ConfigError line naming the file, the key and what is wrong,
because a user fixing a config needs the place, not a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chanwatch.errors import ConfigError
from monitor.sources.handles import normalize_handle
from monitor.sources.session_files import session_file
from storage import RetentionPolicy
from storage.errors import ChanwatchError
from storage.postgres import redact

DEFAULT_PATH: Final = Path("chanwatch.toml")
ENV_TOKEN: Final = "CHANWATCH_BOT_TOKEN"
ENV_API_ID: Final = "CHANWATCH_API_ID"
ENV_API_HASH: Final = "CHANWATCH_API_HASH"
SOURCES: Final = ("telegram", "web")
MAIN_ACCOUNT: Final = "main"
"""The name of the account `telegram.session` stands for."""
CHANNELS_PER_ACCOUNT_MAX: Final = 1000
"""Telegram's own cap is about 500 channels per account (1,000 with Premium)."""
_TIME: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ACCOUNT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class BotConfig:
    token: str
    api_base: str
    admins: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One Telegram user account: `telegram.session` (named "main") or a [[telegram.accounts]]."""

    name: str
    session: Path
    api_id: int
    api_hash: str

    @property
    def configured(self) -> bool:
        return bool(self.api_id and self.api_hash)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    api_id: int
    api_hash: str
    accounts: tuple[AccountConfig, ...]
    """Never empty: without [[telegram.accounts]] it is the one account "main"."""
    channels_per_account: int
    reconcile_seconds: float
    join_pause_seconds: float

    @property
    def configured(self) -> bool:
        return all(account.configured for account in self.accounts)

    def account(self, name: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.name.casefold() == name.casefold()), None)

    def login_command(self, account: AccountConfig) -> str:
        """What the user types to log `account` in."""
        if len(self.accounts) == 1:
            return "chanwatch login"
        return f"chanwatch login --account {account.name}"


@dataclass(frozen=True, slots=True)
class WebConfig:
    base_url: str
    poll_seconds: float
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class DigestConfig:
    time: str
    timezone: str


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: tuple[str, int] | None
    """Host and port of the /metrics and /healthz endpoint; None: not served."""


@dataclass(frozen=True, slots=True)
class StoriesConfig:
    enabled: bool
    """Group copies of a post across channels into one story (one alert, then edits)."""
    window_hours: float
    """Posts this far apart or closer may be copies; the detector holds this much."""

    @property
    def window(self) -> float | None:
        """The detector's window, None when grouping is off."""
        return self.window_hours if self.enabled else None


STORY_WINDOW_MAX: Final = 168.0
"""A week: the detector keeps every post of its window in memory."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How `monitor` processes share the channels on PostgreSQL (README "Scaling out")."""

    lease_seconds: float
    """A monitor that stops renewing its leases loses them this long after its last renewal."""
    web_channels: int
    """At most this many web channels per monitor process."""

    @property
    def renew_seconds(self) -> float:
        """How often leases and the heartbeat are renewed: three tries per lease period, so
        one slow database answer does not lose them."""
        return self.lease_seconds / 3


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    handle: str
    source: str


@dataclass(frozen=True, slots=True)
class TopicConfig:
    name: str
    terms: tuple[str, ...]
    require: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    bot: BotConfig
    telegram: TelegramConfig
    storage_path: Path
    storage_url: str | None
    retention: RetentionPolicy
    web: WebConfig
    digest: DigestConfig
    metrics: MetricsConfig
    cluster: ClusterConfig
    log_level: str
    stories: StoriesConfig
    channels: tuple[ChannelConfig, ...]
    topics: tuple[TopicConfig, ...]

    @property
    def database(self) -> Path | str:
        """Where the store lives: the PostgreSQL URL when given, else the SQLite file."""
        return self.storage_url or self.storage_path


class _Reader:
    """Typed access to one table of the file, naming `section.key` in every error."""

    def __init__(self, path: Path, table: Mapping[str, Any], where: str, known: set[str]) -> None:
        self.path = path
        self.table = table
        self.where = where
        unknown = sorted(set(table) - known)
        if unknown:
            raise self.error(
                unknown[0], f"unknown key (known keys here: {', '.join(sorted(known))})"
            )

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(f"config {self.path}: {self.key(name)}: {message}")

    def value(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        # bool is an int in Python, but `admins = [true]` is a mistake, not a user id.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(name, f"expected {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(name, f"expected {_kind_name(kind)}, got {_toml_type(value)}")
        return value

    def string(self, name: str, default: str) -> str:
        return str(self.value(name, str, default)).strip()

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = float(self.value(name, (int, float), default))
        if value < minimum:
            raise self.error(name, f"must be at least {minimum:g}, got {value:g}")
        return value

    def days(self, name: str) -> int:
        """A whole number of days, 0 (the default) meaning "forever"."""
        value = int(self.value(name, int, 0))
        if value < 0:
            raise self.error(name, f"must be a number of days (0: keep forever), got {value}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.value(name, list, [])
        result = []
        for index, item in enumerate(values):
            if not isinstance(item, str):
                raise self.error(f"{name}[{index}]", f"expected a string, got {_toml_type(item)}")
            if not item.strip():
                raise self.error(f"{name}[{index}]", "empty term")
            result.append(item.strip())
        return tuple(result)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number"}
    names.update({list: "a list", dict: "a table"})
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if kinds == (int, float):
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _toml_type(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names.update({list: "a list", dict: "a table"})
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"[:120]


def _section(path: Path, data: Mapping[str, Any], name: str, known: set[str]) -> _Reader:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config {path}: {name}: expected a table [{name}], got {table!r}")
    return _Reader(path, table, name, known)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _env(name: str, file_value: str) -> str:
    return os.environ.get(name, "").strip() or file_value


def load_config(path: Path | str = DEFAULT_PATH) -> Config:
    """Read and check the file; raises ConfigError with one line naming file and key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config {path}: file not found (copy config.example.toml to {path} "
            "or pass --config FILE)"
        ) from None
    except OSError as error:
        raise ConfigError(f"config {path}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path}: invalid TOML: {error}") from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    top = _Reader(
        path,
        data,
        "",
        {
            "bot",
            "telegram",
            "storage",
            "web",
            "digest",
            "metrics",
            "cluster",
            "log",
            "stories",
            "channels",
            "topics",
        },
    )
    base = path.resolve().parent

    bot = _section(path, data, "bot", {"token", "api_base", "admins"})
    api_base = bot.string("api_base", "https://api.telegram.org").rstrip("/")
    parsed = urlparse(api_base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise bot.error("api_base", f"expected an http(s) URL, got {api_base!r}")
    admins = bot.value("admins", list, [])
    for index, admin in enumerate(admins):
        if isinstance(admin, bool) or not isinstance(admin, int):
            raise bot.error(
                f"admins[{index}]", f"expected a numeric Telegram user id, got {admin!r}"
            )
    bot_config = BotConfig(
        token=_env(ENV_TOKEN, bot.string("token", "")),
        api_base=api_base,
        admins=tuple(admins),
    )

    tg = _section(
        path,
        data,
        "telegram",
        {
            "api_id",
            "api_hash",
            "session",
            "accounts",
            "channels_per_account",
            "reconcile_seconds",
            "join_pause_seconds",
        },
    )
    api_id_text = os.environ.get(ENV_API_ID, "").strip()
    if api_id_text:
        if not api_id_text.isdigit():
            raise ConfigError(f"environment {ENV_API_ID}: expected a number, got {api_id_text!r}")
        api_id = int(api_id_text)
    else:
        api_id = _api_id(tg)
    api_hash = _env(ENV_API_HASH, tg.string("api_hash", ""))
    per_account = tg.value("channels_per_account", int, 450)
    if not 1 <= per_account <= CHANNELS_PER_ACCOUNT_MAX:
        raise tg.error(
            "channels_per_account",
            f"expected 1 to {CHANNELS_PER_ACCOUNT_MAX} (Telegram lets an account join about "
            f"500 channels), got {per_account}",
        )
    telegram_config = TelegramConfig(
        api_id=api_id,
        api_hash=api_hash,
        accounts=_accounts(path, tg, base, api_id, api_hash),
        channels_per_account=per_account,
        reconcile_seconds=tg.number("reconcile_seconds", 180, minimum=10),
        join_pause_seconds=tg.number("join_pause_seconds", 5, minimum=0),
    )

    storage = _section(path, data, "storage", {"path", "url", "keep_days", "keep_matched_days"})
    storage_path = storage.string("path", "chanwatch.db")
    if not storage_path:
        raise storage.error("path", "must name the database file")
    storage_url = storage.string("url", "") or None
    if storage_url is not None:
        storage_url = check_postgres_url(storage_url, lambda m: storage.error("url", m))
    retention = RetentionPolicy(
        keep_days=storage.days("keep_days"), keep_matched_days=storage.days("keep_matched_days")
    )

    web = _section(path, data, "web", {"base_url", "poll_seconds", "timeout_seconds"})
    base_url = web.string("base_url", "https://t.me").rstrip("/")
    if urlparse(base_url).scheme not in ("http", "https"):
        raise web.error("base_url", f"expected an http(s) URL, got {base_url!r}")
    web_config = WebConfig(
        base_url=base_url,
        poll_seconds=web.number("poll_seconds", 60, minimum=0.05),
        timeout_seconds=web.number("timeout_seconds", 20, minimum=0.1),
    )

    digest = _section(path, data, "digest", {"time", "timezone"})
    digest_time = digest.string("time", "09:00")
    time_match = _TIME.fullmatch(digest_time)
    if not time_match:
        raise digest.error("time", f"expected HH:MM (00:00-23:59), got {digest_time!r}")
    timezone = digest.string("timezone", "UTC")
    check_timezone(timezone, lambda message: digest.error("timezone", message))

    metrics = _section(path, data, "metrics", {"listen"})
    listen = metrics.string("listen", "")
    metrics_config = MetricsConfig(
        listen=parse_listen(listen, lambda message: metrics.error("listen", message))
        if listen
        else None
    )

    stories = _section(path, data, "stories", {"enabled", "window_hours"})
    window_hours = stories.number("window_hours", 24, minimum=0)
    if not 0 < window_hours <= STORY_WINDOW_MAX:
        raise stories.error(
            "window_hours",
            f"expected more than 0 and at most {STORY_WINDOW_MAX:g} hours, got {window_hours:g}",
        )
    stories_config = StoriesConfig(
        enabled=bool(stories.value("enabled", bool, True)), window_hours=window_hours
    )

    cluster = _section(path, data, "cluster", {"lease_seconds", "web_channels"})
    web_channels = cluster.value("web_channels", int, 2000)
    if web_channels < 1:
        raise cluster.error("web_channels", f"must be at least 1, got {web_channels}")
    cluster_config = ClusterConfig(
        # Leases expire by wall-clock time recorded to the second: shorter would flicker.
        lease_seconds=cluster.number("lease_seconds", 30, minimum=3),
        web_channels=web_channels,
    )

    log = _section(path, data, "log", {"level"})
    level = log.string("level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise log.error("level", f"expected DEBUG, INFO, WARNING or ERROR, got {level!r}")

    return Config(
        path=path,
        bot=bot_config,
        telegram=telegram_config,
        storage_path=_resolve(base, storage_path),
        retention=retention,
        storage_url=storage_url,
        web=web_config,
        digest=DigestConfig(
            time=f"{int(time_match.group(1)):02d}:{time_match.group(2)}", timezone=timezone
        ),
        metrics=metrics_config,
        cluster=cluster_config,
        log_level=level,
        stories=stories_config,
        channels=_channels(path, top),
        topics=_topics(path, top),
    )


def parse_listen(text: str, error: Any) -> tuple[str, int]:
    """ "127.0.0.1:9310", "[::1]:9310" or ":9310" (every interface) as (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536:
        raise error(f'expected HOST:PORT such as "127.0.0.1:9310", got {text!r}')
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)


def check_postgres_url(url: str, error: Any) -> str:
    """The URL if it names a PostgreSQL database; `error(message)` is raised otherwise.

    The message quotes the URL without its password."""
    parts = urlparse(url)
    if parts.scheme not in ("postgresql", "postgres"):
        shown = redact(url) if "://" in url else url
        raise error(
            f"expected a URL like postgresql://user@host:5432/dbname, got {shown!r} "
            "(leave it out to use the SQLite file at storage.path)"
        )
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError:
        raise error(f"{redact(url)!r}: the port must be a number from 1 to 65535") from None
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        example = redact(url).split("?", 1)[0].rstrip("/") + "/chanwatch"
        raise error(f"{redact(url)!r} names no database: add its name, as in {example}")
    return url


def check_timezone(name: str, error: Any) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(f"unknown timezone {name!r} (use an IANA name like Europe/Minsk)") from None


def _tables(path: Path, top: _Reader, name: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = top.value(name, list, [])
    result: list[tuple[str, Mapping[str, Any]]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise top.error(
                f"{name}[{index}]", f"expected a [[{top.key(name)}]] table, got {item!r}"
            )
        result.append((top.key(f"{name}[{index}]"), item))
    return result


def _api_id(reader: _Reader) -> int:
    api_id: int = reader.value("api_id", int, 0)
    if api_id < 0:
        raise reader.error("api_id", "must be the positive number from my.telegram.org")
    return api_id


def _accounts(
    path: Path, tg: _Reader, base: Path, api_id: int, api_hash: str
) -> tuple[AccountConfig, ...]:
    """`telegram.session` as the account "main" (unless only [[telegram.accounts]] are given),
    then every [[telegram.accounts]] table."""
    tables = _tables(path, tg, "accounts")
    accounts: dict[str, AccountConfig] = {}
    sessions: dict[Path, str] = {}

    def add(account: AccountConfig, reader: _Reader) -> None:
        if account.name.casefold() in accounts:
            if account.name.casefold() == MAIN_ACCOUNT and "session" in tg.table:
                raise reader.error(
                    "name",
                    f"{MAIN_ACCOUNT!r} is the account of telegram.session; give this one another "
                    "name, or remove telegram.session",
                )
            raise reader.error("name", f"account {account.name!r} is defined twice")
        file = session_file(account.session)
        if file in sessions:
            raise reader.error(
                "session",
                f"account {account.name!r} uses the session file of account {sessions[file]!r}; "
                "each account needs its own (one session is one login)",
            )
        accounts[account.name.casefold()] = account
        sessions[file] = account.name

    if "session" in tg.table or not tables:
        session = tg.string("session", "chanwatch.session")
        if not session:
            raise tg.error("session", "must name the session file, e.g. chanwatch.session")
        add(AccountConfig(MAIN_ACCOUNT, _resolve(base, session), api_id, api_hash), tg)
    for where, table in tables:
        reader = _Reader(path, table, where, {"name", "session", "api_id", "api_hash"})
        name = reader.string("name", "")
        if not name:
            raise reader.error("name", 'missing (a short name such as "second")')
        if not _ACCOUNT_NAME.fullmatch(name):
            raise reader.error(
                "name",
                f"expected up to 32 letters, digits, '_' or '-' (starting with a letter or "
                f"digit), got {name!r}",
            )
        session = reader.string("session", "")
        if not session:
            raise reader.error("session", f"missing: the session file of account {name!r}")
        own_id, own_hash = _api_id(reader), reader.string("api_hash", "")
        if bool(own_id) != bool(own_hash):
            raise reader.error(
                "api_id" if not own_id else "api_hash",
                "give both api_id and api_hash, or neither to use those of [telegram]",
            )
        add(
            AccountConfig(name, _resolve(base, session), own_id or api_id, own_hash or api_hash),
            reader,
        )
    return tuple(accounts.values())


def _channels(path: Path, top: _Reader) -> tuple[ChannelConfig, ...]:
    channels: dict[str, ChannelConfig] = {}
    for where, table in _tables(path, top, "channels"):
        reader = _Reader(path, table, where, {"handle", "source"})
        if "handle" not in table:
            raise reader.error("handle", "missing (a t.me username, t.me link or numeric id)")
        raw = reader.value("handle", (str, int), "")
        try:
            handle = normalize_handle(str(raw))
        except ChanwatchError as error:
            raise reader.error("handle", str(error)) from None
        source = reader.string("source", "telegram")
        if source not in SOURCES:
            raise reader.error("source", f'expected "telegram" or "web", got {source!r}')
        if handle in channels:
            raise reader.error("handle", f"channel {handle!r} is listed twice")
        channels[handle] = ChannelConfig(handle=handle, source=source)
    return tuple(channels.values())


def _topics(path: Path, top: _Reader) -> tuple[TopicConfig, ...]:
    from monitor.matching import validate_term  # the matcher is heavy; only topics need it

    topics: dict[str, TopicConfig] = {}
    for where, table in _tables(path, top, "topics"):
        reader = _Reader(path, table, where, {"name", "terms", "require", "exclude"})
        name = reader.string("name", "")
        if not name:
            raise reader.error("name", "missing or empty topic name")
        if name.casefold() in topics:
            raise reader.error("name", f"topic {name!r} is defined twice")
        terms = reader.strings("terms")
        if not terms:
            raise reader.error("terms", f"topic {name!r} has no terms: it would never match")
        require = reader.strings("require")
        exclude = reader.strings("exclude")
        for key, values in (("terms", terms), ("require", require), ("exclude", exclude)):
            for index, term in enumerate(values):
                try:
                    validate_term(term)
                except ChanwatchError as error:
                    raise reader.error(f"{key}[{index}]", str(error)) from None
        topics[name.casefold()] = TopicConfig(name, terms, require, exclude)
    return tuple(topics.values())
