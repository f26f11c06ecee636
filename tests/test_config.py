"""`chanwatch check` and every way a config can be wrong, through the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chanwatch.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

GOOD = """
[bot]
token = "123:abc"
admins = [1]
[storage]
path = "x.db"
[[channels]]
handle = "https://t.me/pul_1"
source = "web"
[[topics]]
name = "visit"
terms = ["визит"]
"""


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHANWATCH_BOT_TOKEN", "CHANWATCH_API_ID", "CHANWATCH_API_HASH"):
        monkeypatch.delenv(name, raising=False)


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_example_config_checks_and_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("check", "--config", str(EXAMPLE), capsys=capsys)
    assert code == 0, err
    assert "pul_1 [telegram]" in out
    for topic in ("visit", "invitation", "Kim Jong Un"):
        assert f"  {topic}: " in out
    assert "Ким Чен Ын" in out
    assert "warning: bot.token is empty" in out


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.toml").write_text(GOOD, encoding="utf-8")
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0
    assert f"database: {tmp_path / 'x.db'} (SQLite)" in out
    assert "pul_1 [web] via https://t.me/s/pul_1" in out


def test_secrets_may_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.toml").write_text(GOOD.replace('token = "123:abc"', ""), encoding="utf-8")
    monkeypatch.setenv("CHANWATCH_BOT_TOKEN", "999:from-env")
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0
    assert "token set" in out


ACCOUNT = '[[telegram.accounts]]\nname = "{name}"\nsession = "{session}"\n'

BAD = [
    ("missing", None, "file not found"),
    ("toml", "[bot\ntoken = 1", "invalid TOML"),
    ("unknown top key", GOOD + "\n[extra]\na = 1\n", "extra: unknown key"),
    (
        "unknown key",
        GOOD.replace("[storage]", "[storage]\npaht = 'x'"),
        "storage.paht: unknown key",
    ),
    (
        "wrong type",
        GOOD.replace("admins = [1]", 'admins = ["me"]'),
        "bot.admins[0]: expected a numeric",
    ),
    ("bool admin", GOOD.replace("admins = [1]", "admins = [true]"), "bot.admins[0]"),
    (
        "empty terms",
        GOOD.replace('terms = ["визит"]', "terms = []"),
        "topics[0].terms: topic 'visit' has no terms",
    ),
    (
        "blank term",
        GOOD.replace('terms = ["визит"]', 'terms = ["  "]'),
        "topics[0].terms[0]: empty term",
    ),
    (
        "bad regex",
        GOOD.replace('terms = ["визит"]', 'terms = ["re:(визит"]'),
        "topics[0].terms[0]",
    ),
    ("no name", GOOD.replace('name = "visit"', ""), "topics[0].name: missing"),
    (
        "dup topic",
        GOOD + '[[topics]]\nname = "VISIT"\nterms = ["x"]\n',
        "topics[1].name: topic 'VISIT' is defined twice",
    ),
    ("bad time", GOOD + '[digest]\ntime = "25:61"\n', "digest.time: expected HH:MM"),
    (
        "bad tz",
        GOOD + '[digest]\ntimezone = "Mars/Olympus"\n',
        "digest.timezone: unknown timezone 'Mars/Olympus'",
    ),
    ("bad source", GOOD.replace('source = "web"', 'source = "rss"'), "channels[0].source"),
    ("bad handle", GOOD.replace("https://t.me/pul_1", "not a channel!"), "channels[0].handle"),
    ("bad url", GOOD.replace("[storage]", '[web]\nbase_url = "t.me"\n[storage]'), "web.base_url"),
    (
        "poll zero",
        GOOD.replace("[storage]", "[web]\npoll_seconds = 0\n[storage]"),
        "web.poll_seconds: must be at least",
    ),
    ("section type", GOOD.replace("[storage]\npath", "storage = 5\n[x]\npath"), "storage"),
    (
        "dup account",
        GOOD + ACCOUNT.format(name="a", session="a") + ACCOUNT.format(name="A", session="b"),
        "telegram.accounts[1].name: account 'A' is defined twice",
    ),
    (
        "main twice",
        GOOD.replace("[[channels]]", '[telegram]\nsession = "s"\n[[channels]]')
        + ACCOUNT.format(name="main", session="t"),
        "telegram.accounts[0].name: 'main' is the account of telegram.session",
    ),
    (
        "bad account name",
        GOOD + ACCOUNT.format(name="my account", session="a"),
        "telegram.accounts[0].name: expected up to 32 letters",
    ),
    (
        "no session",
        GOOD + '[[telegram.accounts]]\nname = "a"\n',
        "telegram.accounts[0].session: missing",
    ),
    (
        "shared session",
        GOOD
        + ACCOUNT.format(name="a", session="x")
        + ACCOUNT.format(name="b", session="x.session"),
        "telegram.accounts[1].session: account 'b' uses the session file of account 'a'",
    ),
    (
        "half credentials",
        GOOD + '[[telegram.accounts]]\nname = "a"\nsession = "a"\napi_id = 5\n',
        "telegram.accounts[0].api_hash: give both api_id and api_hash",
    ),
    (
        "account typo",
        GOOD + '[[telegram.accounts]]\nname = "a"\nsesion = "a"\n',
        "telegram.accounts[0].sesion: unknown key",
    ),
    (
        "accounts not tables",
        GOOD.replace("[[channels]]", "[telegram]\naccounts = [1]\n[[channels]]"),
        "telegram.accounts[0]: expected a [[telegram.accounts]] table",
    ),
    (
        "no capacity",
        GOOD.replace("[[channels]]", "[telegram]\nchannels_per_account = 0\n[[channels]]"),
        "telegram.channels_per_account: expected 1 to 1000",
    ),
    (
        "storage url scheme",
        GOOD.replace("[storage]", '[storage]\nurl = "mysql://u:pw@h/db"'),
        "storage.url: expected a URL like postgresql://user@host:5432/dbname, "
        "got 'mysql://u@h/db' (leave it out to use the SQLite file at storage.path)",
    ),
    (
        "storage url without database",
        GOOD.replace("[storage]", '[storage]\nurl = "postgresql://u:pw@h:5432/"'),
        "storage.url: 'postgresql://u@h:5432/' names no database: add its name, as in "
        "postgresql://u@h:5432/chanwatch",
    ),
    (
        "storage url port",
        GOOD.replace("[storage]", '[storage]\nurl = "postgresql://u:pw@h:99999/db"'),
        "storage.url: 'postgresql://u@h:99999/db': the port must be a number",
    ),
    (
        "metrics no port",
        GOOD + '[metrics]\nlisten = "127.0.0.1"\n',
        'metrics.listen: expected HOST:PORT such as "127.0.0.1:9310"',
    ),
    ("metrics port", GOOD + '[metrics]\nlisten = "localhost:99999"\n', "metrics.listen"),
    (
        "stories window zero",
        GOOD + "[stories]\nwindow_hours = 0\n",
        "stories.window_hours: expected more than 0 and at most 168 hours, got 0",
    ),
    (
        "stories window too long",
        GOOD + "[stories]\nwindow_hours = 1000\n",
        "stories.window_hours: expected more than 0 and at most 168 hours, got 1000",
    ),
    (
        "stories window text",
        GOOD + '[stories]\nwindow_hours = "day"\n',
        "stories.window_hours: expected a number, got a string",
    ),
    (
        "stories enabled text",
        GOOD + '[stories]\nenabled = "yes"\n',
        "stories.enabled: expected",
    ),
    ("stories unknown key", GOOD + "[stories]\nwindow = 24\n", "stories.window: unknown key"),
]


def test_stories_are_on_for_a_day_by_default_and_can_be_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.toml").write_text(GOOD, encoding="utf-8")
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0 and "stories: copies within 24 h are grouped into one alert" in out
    (tmp_path / "c.toml").write_text(
        GOOD + "[stories]\nenabled = false\nwindow_hours = 6\n", encoding="utf-8"
    )
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0 and "stories: off (every copy alerts)" in out


@pytest.mark.parametrize(("case", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_clear_line_and_exit_2(
    case: str,
    text: str | None,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "chanwatch.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    code, _, err = run_cli("check", "--config", str(path), capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chanwatch: config {path}"), err
    assert expected in lines[0]
    assert "Traceback" not in err


def test_check_lists_accounts_and_which_still_need_a_login(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace('source = "web"', 'source = "telegram"').replace(
        "[[channels]]",
        '[telegram]\napi_id = 1\napi_hash = "h"\nchannels_per_account = 2\n'
        'session = "main.session"\n[[channels]]',
    )
    text += ACCOUNT.format(name="second", session="sessions/second")
    (tmp_path / "main.session").write_bytes(b"")
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0
    assert "telegram accounts (2, up to 2 channels each):" in out
    assert f"  second: session {tmp_path / 'sessions' / 'second'}" in out
    assert "run `chanwatch login --account second` first" in out
    assert "--account main" not in out  # its session exists


def test_a_postgresql_url_selects_postgresql_and_hides_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = 'url = "postgresql://chanwatch:s3cret@db.example.org:5432/chanwatch?sslmode=require"'
    (tmp_path / "c.toml").write_text(GOOD.replace("[storage]", f"[storage]\n{url}"), "utf-8")
    code, out, _ = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 0
    expected = "postgresql://chanwatch@db.example.org:5432/chanwatch?sslmode=require (PostgreSQL)"
    assert f"database: {expected}" in out, out
    assert "s3cret" not in out


def test_bad_api_id_in_environment_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c.toml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("CHANWATCH_API_ID", "abc")
    code, _, err = run_cli("check", "--config", str(tmp_path / "c.toml"), capsys=capsys)
    assert code == 2
    assert "CHANWATCH_API_ID: expected a number" in err


def test_the_console_command_is_installed(tmp_path: Path) -> None:
    command = shutil.which("chanwatch", path=str(Path(sys.executable).parent)) or "chanwatch"
    (tmp_path / "chanwatch.toml").write_text(GOOD, encoding="utf-8")
    done = subprocess.run(
        [command, "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHANWATCH_BOT_TOKEN": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "config chanwatch.toml: OK" in done.stdout
    usage = subprocess.run([command, "frobnicate"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2
    assert "invalid choice: 'frobnicate'" in usage.stderr
