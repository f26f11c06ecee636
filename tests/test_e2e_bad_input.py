"""Bad input end to end: `chanwatch run` as a subprocess, fed what users and channels really send.

Every group of bad input is followed by a normal matching post that must still alert: the
proof that nothing crashed the process. The log must stay free of tracebacks and the token.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pytest

from storage import Store
from tests.e2e_harness import (
    OPERATOR,
    TOKEN,
    Chanwatch,
    alerts_to,
    ask,
    command,
    running,
    subscribe,
    write_config,
)
from tests.fakes.bot_api import MAX_MESSAGE_LENGTH, FakeBotAPI, SentMessage, utf16_length
from tests.fakes.tme_server import TmeServer

SUBSCRIBER: Final = 5
"""A user subscribed to every topic: the one who must keep getting alerts."""
STRANGER: Final = 7
"""A user who is no operator and writes odd things."""
HANDLE: Final = "pul_1"
ALERT_WAIT: Final = 20.0
_CHECKS: Final = itertools.count()


def _check_log(app: Chanwatch) -> None:
    text = app.log_text()
    # Bad input is the users' mistake, never an error of the process.
    assert "Traceback" not in text and " ERROR " not in text, text
    assert TOKEN not in text


async def _wait_alert(api: FakeBotAPI, post_id: int) -> SentMessage:
    """The alert to SUBSCRIBER for `post_id` (Telegram refusing it would leave it missing)."""
    url = f"https://t.me/{HANDLE}/{post_id}"

    def found() -> list[SentMessage]:
        return [m for m in api.messages_to(SUBSCRIBER) if url in m.text]

    await api.wait_until(lambda: bool(found()), f"alerted {url}", timeout=ALERT_WAIT)
    (alert,) = found()
    return alert


async def _still_alerts(app: Chanwatch, api: FakeBotAPI, tme: TmeServer, label: str) -> None:
    """The process is alive and a normal matching post still reaches the subscriber."""
    assert app.process is not None and app.process.returncode is None, app.log_text()
    # Another year each time: another event, not a copy of the last check's post (which
    # would edit that alert instead, see README "Stories").
    year = 2000 + next(_CHECKS)
    post_id = tme.add_post(
        HANDLE, f"Лидер пригласил Первого посетить страну в {year} году ({label})"
    )
    alert = await _wait_alert(api, post_id)
    assert "<b>посетить</b>" in alert.text
    assert app.process.returncode is None


def _fits_telegram(message: SentMessage) -> None:
    assert utf16_length(message.visible_text) <= MAX_MESSAGE_LENGTH


async def test_unknown_commands_searches_and_malformed_topics_get_clear_answers(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_post(HANDLE, "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme), api) as app:
            await subscribe(api, SUBSCRIBER)

            # Unknown commands and plain text: a pointer to /help, never silence.
            for text in ("/foo", "/", "/foo " + "x" * 10_000, "/FOO@fake_test_bot"):
                answer = await ask(api, STRANGER, text)
                assert "don't know that command" in answer and "/help" in answer, text
            answer = await ask(api, STRANGER, "/subscribe@other_bot")
            assert "@other_bot" in answer and "/help" in answer
            for text in ("hello", "<b>hi</b> & bye", "🙂"):
                assert "/help" in await ask(api, STRANGER, text), text
            # Odd arguments to known commands: what is wrong and how to write it.
            odd_arguments = {
                "/recent ²": "did not understand the number",  # a digit int() refuses
                "/recent 99999999999999999999999": "out of range",
                "/timezone Europe": "do not know the time zone",  # a folder of zones
                "/timezone " + "Я" * 300: "do not know the time zone",  # too long a file name
                "/timezone ../../etc/passwd": "do not know the time zone",
                "/digest 25:99": "not a time of day",
                "/mode <b>": "Write /mode instant",
            }
            for text, expected in odd_arguments.items():
                answer = await ask(api, STRANGER, text)
                assert answer.startswith("⚠️") and expected in answer, (text[:40], answer)
            await _still_alerts(app, api, tme, "unknown commands")

            # /search: empty, huge, FTS syntax, markup.
            for text in ("/search", "/search     "):
                answer = await ask(api, STRANGER, text)
                assert "Write what to look for" in answer, text
            answer = await ask(api, STRANGER, "/search " + "визит " * 2_000)
            assert "characters long" in answer and "at most 200" in answer
            answer = await ask(api, STRANGER, "/search " + "щ" * 10_000)
            assert "10000 characters long" in answer
            for text in ('/search "', "/search *", "/search ( ) : ^ -", "/search 🙂🙂"):
                answer = await ask(api, STRANGER, text)
                assert "no words to search for" in answer, text
            # Query syntax of SQLite's full-text search is only words here.
            fts_syntax = {
                '/search "визит': "1 post found",
                "/search визит*": "1 post found",
                "/search визит AND (": "Nothing found",
                "/search NEAR(визит пост)": "Nothing found",
                "/search lemmas: визит": "Nothing found",
                "/search визит OR NOT пост": "Nothing found",
            }
            for text, expected in fts_syntax.items():
                answer = await ask(api, STRANGER, text)
                assert answer.startswith("🔎 Search: ") and expected in answer, (text, answer)
            answer = await ask(api, STRANGER, "/search визит")
            assert "1 post found" in answer and f"t.me/{HANDLE}/1" in answer
            # Callback data comes from the client: a forged page number is only a page.
            found = api.messages_to(STRANGER)[-1]
            for page in ("-3", "99999999999999999999"):
                press = await api.user_presses(
                    STRANGER, found.message_id, f"search:{page}", require_button=False
                )
                pressed = await api.wait_for_answer(press, timeout=15)
                assert pressed.text is None, (page, pressed)
            answer = await ask(api, STRANGER, "/search <script>визит</script> & co")
            assert "&lt;script&gt;визит&lt;/script&gt; &amp; co" in answer
            await _still_alerts(app, api, tme, "search")

            # /addtopic from the operator: a specific error for each malformed shape.
            malformed = {
                "/addtopic": "Write /addtopic NAME:",
                "/addtopic Выборы": "Write /addtopic NAME:",
                "/addtopic : выборы": "needs a name before the colon",
                "/addtopic Выборы:": "needs at least one term",
                "/addtopic Выборы: , ,\n,": "needs at least one term",
                "/addtopic Выборы: re:(": "not a valid regular expression",
                "/addtopic Выборы: re:": "is empty",
                "/addtopic Выборы: re:x*": "matches empty text",
                "/addtopic Выборы: 123, !!!": "needs at least one letter",
                "/addtopic Выборы: выборы | exclude: a | exclude: b": "exclude: is given twice",
                "/addtopic A, B: выборы": "cannot contain a comma",
                "/addtopic " + "Я" * 65 + ": выборы": "at most 64 characters",
                "/addtopic Выборы: " + "в" * 201: "longer than 200 characters",
                "/addtopic Выборы: " + ", ".join(f"слово{n}" for n in range(201)): "at most 200",
            }
            for text, expected in malformed.items():
                answer = await ask(api, OPERATOR, text)
                assert answer.startswith("⚠️") and expected in answer, (text[:80], answer)
            # Markup in a topic name is text: the answer arrives and shows it escaped.
            answer = await ask(api, OPERATOR, "/addtopic <i>Саммит</i> & Co: саммит")
            assert "&lt;i&gt;Саммит&lt;/i&gt; &amp; Co" in answer
            # Not an operator: refused before the arguments are even read.
            for text in ("/addtopic Выборы: выборы", "/addtopic", "/addtopic : re:("):
                assert "only the bot's operators" in await ask(api, STRANGER, text), text
            await _still_alerts(app, api, tme, "addtopic")
        assert app.exit_codes == [0]
        _check_log(app)

    store = await Store.open(tmp_path / "db.sqlite")
    try:
        names = sorted(topic.name for topic in await store.topics.live())
    finally:
        await store.close()
    assert names == ["<i>Саммит</i> & Co", "visit"]


async def test_odd_posts_are_stored_and_alerted_as_text(tmp_path: Path) -> None:
    script = "Визит <script>alert('x')</script> & <b>посетить</b> <a href=x>1 < 2</a>"
    long_head = "Первого пригласили посетить страну. " + "Длинный текст без смысла. " * 400
    long_tail = "Слово " * 1_700 + "и в конце решили посетить"
    emoji = "🎉🔥👍" * 50
    emoji_match = "🔥" * 3_000 + " решили посетить " + "🔥" * 3_000
    async with FakeBotAPI() as api, TmeServer() as tme:
        tme.add_channel(HANDLE, "Пул <Первого> & Co")
        tme.add_post(HANDLE, "Старый пост про визит")
        async with running(write_config(tmp_path, api, tme), api) as app:
            await subscribe(api, SUBSCRIBER)
            ids = {
                "script": tme.add_post(HANDLE, script),
                "empty": tme.add_post(HANDLE, ""),
                "album": tme.add_post(HANDLE, "", album_size=3),
                "long_head": tme.add_post(HANDLE, long_head),
                "long_tail": tme.add_post(HANDLE, long_tail),
                "emoji": tme.add_post(HANDLE, emoji),
                "emoji_match": tme.add_post(HANDLE, emoji_match),
            }
            alerts = {
                name: await _wait_alert(api, ids[name])
                for name in ("script", "long_head", "long_tail", "emoji_match")
            }
            await _still_alerts(app, api, tme, "posts")

            recent = await ask(api, SUBSCRIBER, "/recent 50")
            search = await ask(api, STRANGER, "/search посетить")
            await _still_alerts(app, api, tme, "lists")
        assert app.exit_codes == [0]
        _check_log(app)

    for alert in alerts.values():
        _fits_telegram(alert)
        assert "Пул &lt;Первого&gt; &amp; Co" in alert.text
    assert script in alerts["script"].visible_text  # shown as the text it is
    assert "&lt;script&gt;" in alerts["script"].text
    assert "<b>посетить</b>" in alerts["long_head"].text
    assert "…" in alerts["long_head"].visible_text
    assert "<b>посетить</b>" in alerts["long_tail"].text  # the cut keeps the match in view
    assert "<b>посетить</b>" in alerts["emoji_match"].text
    assert not _alerted(api, [ids["empty"], ids["album"], ids["emoji"]])
    # Lists show the same posts, escaped, within one message each.
    for answer in (recent, search):
        for name in ("script", "long_head", "long_tail", "emoji_match"):
            assert f"t.me/{HANDLE}/{ids[name]}" in answer, (name, answer)
        assert "&lt;script&gt;" in answer
    assert "5 posts found" in search
    for message in (*api.messages_to(SUBSCRIBER), *api.messages_to(STRANGER)):
        _fits_telegram(message)

    store = await Store.open(tmp_path / "db.sqlite")
    try:
        stored = await store.posts.known_texts(HANDLE, list(ids.values()))
    finally:
        await store.close()
    assert stored[ids["script"]] == script
    assert stored[ids["empty"]] == "" and stored[ids["album"]] == ""
    assert stored[ids["long_head"]] == long_head.strip()
    assert stored[ids["long_tail"]] == long_tail.strip()
    assert stored[ids["emoji"]] == emoji
    assert stored[ids["emoji_match"]] == emoji_match


def _alerted(api: FakeBotAPI, post_ids: Sequence[int]) -> list[str]:
    """Alerts to SUBSCRIBER for any of `post_ids`."""
    links = re.compile(rf"t\.me/{HANDLE}/({'|'.join(map(str, post_ids))})(?!\d)")
    return [text for text in alerts_to(api, SUBSCRIBER, HANDLE) if links.search(text)]


# -- the database file ------------------------------------------------------------------------


def _unprivileged() -> list[str]:
    """A prefix that makes file permissions bind the process even when the tests run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions would not apply")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


async def _real_database(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


async def _start_fails(config: Path, prefix: Sequence[str] = ()) -> str:
    process = await asyncio.create_subprocess_exec(
        *prefix, command(), "run", "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1, err
    return err.decode()


@pytest.mark.parametrize("damage", ["garbage", "damaged pages"])
async def test_corrupted_database_is_a_clear_start_error_and_left_untouched(
    tmp_path: Path, damage: str
) -> None:
    database = tmp_path / "db.sqlite"
    if damage == "garbage":
        database.write_bytes(bytes(range(256)) * 64)
    else:
        await _real_database(database)
        data = bytearray(database.read_bytes())
        data[4096:] = bytes((index * 7 + 3) % 256 for index in range(len(data) - 4096))
        database.write_bytes(bytes(data))
    before = database.read_bytes()
    async with FakeBotAPI() as api, TmeServer() as tme:
        err = await _start_fails(write_config(tmp_path, api, tme))
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(database) in err and "corrupted" in err
    assert database.read_bytes() == before
    assert not api.calls and not tme.requests


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("file", "is read-only; give the chanwatch user write access to it"),
        ("folder", "is not writable; give the chanwatch user write access to the folder"),
    ],
)
async def test_read_only_database_is_a_clear_start_error_and_left_untouched(
    tmp_path: Path, what: str, expected: str
) -> None:
    prefix = _unprivileged()
    folder = tmp_path / "data"
    folder.mkdir()
    database = folder / "db.sqlite"
    await _real_database(database)
    before = database.read_bytes()
    locked = database if what == "file" else folder
    read_only = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    locked.chmod(read_only | (0o111 if locked.is_dir() else 0))
    try:
        async with FakeBotAPI() as api, TmeServer() as tme:
            config = write_config(tmp_path, api, tme)
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace('"db.sqlite"', '"data/db.sqlite"'), encoding="utf-8")
            err = await _start_fails(config, prefix)
    finally:
        locked.chmod(0o755 if locked.is_dir() else 0o644)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"database {database} " in err and expected in err, err
    assert database.read_bytes() == before
    # No -wal/-shm files as read-only as the file, which would outlast the user's fix.
    assert [path.name for path in folder.iterdir()] == ["db.sqlite"]
    assert not api.calls and not tme.requests
