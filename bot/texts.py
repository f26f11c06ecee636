"""Everything the bot says in conversation, as HTML. Every user-given string is escaped here.

Texts are English in the code and marked with `_()`; the chat's language is chosen by the
i18n middleware (answers) or `bot.i18n.speaking` (what the bot sends on its own). How to add
a text: README, "Adding or changing a text the bot sends".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from html import escape

from bot import dates
from bot.charts.spec import Series
from bot.dates import moment
from bot.errors import CommandError
from bot.i18n import ENGLISH, RUSSIAN
from bot.i18n import gettext as _
from bot.parsing import ADDTOPIC_USAGE, RECENT_MAX
from storage.errors import ChanwatchError
from storage.models import (
    UNASSIGNED_FULL,
    Account,
    Assignment,
    Channel,
    ProcessInfo,
    Stats,
    Subscriber,
    Topic,
)
from storage.retention import SENT_MESSAGE_DAYS, RetentionPolicy, RetentionRun, RetentionTotals

SEARCH_MARK = "🔎 "
"""A search result's first line is SEARCH_MARK, a word, ": " and the query; paging reads the
query back from it (whatever language the word was in)."""


def not_operator() -> str:
    return _("Sorry, only the bot's operators can use this command.")


def not_chat_admin() -> str:
    return _("Sorry, only this group's admins can change its subscriptions and settings.")


def unknown_command() -> str:
    return _("I don't know that command. Send /help to see what I can do.")


def not_a_command() -> str:
    return _("I answer commands. Send /help to see them.")


def generic_error() -> str:
    return _(
        "Sorry, something went wrong on my side. The operators have been told; "
        "please try again later."
    )


def no_topics() -> str:
    return _("No topics are configured yet. The operators add them with /addtopic.")


def search_expired() -> str:
    return _("This search is too old to page through; send /search again.")


def topic_gone() -> str:
    return _("That topic was removed; the list is refreshed.")


def when(value: datetime | None, tz: tzinfo | None) -> str:
    return _("never") if value is None else moment(value, tz)


def start_text(name: str | None, *, group: bool) -> str:
    hello = _("Hello, {name}!").format(name=escape(name)) if name else _("Hello!")
    if group:
        what = _(
            "I watch Telegram channels and tell this group when a post mentions a topic, "
            "in any inflected form of its words."
        )
    else:
        what = _(
            "I watch Telegram channels and tell you when a post mentions a topic, "
            "in any inflected form of its words."
        )
    return (
        f"{hello} {what}\n\n"
        + _(
            "• /topics — pick topics with buttons, or /subscribe to all of them\n"
            "• /recent — the latest matching posts\n"
            "• /search WORDS — search every stored post\n"
            "• /trend — a chart of how often your topics came up\n"
            "• /help — what is watched and every command"
        )
        + "\n\n"
        + _("Language: English. Русский: /language ru")
    )


def _topic_line(topic: Topic) -> str:
    terms = ", ".join(topic.terms[:8]) + (", …" if len(topic.terms) > 8 else "")
    line = f"• <b>{escape(topic.name)}</b>: {escape(terms)}"
    if topic.require:
        line += " " + _("<i>with</i> {terms}").format(terms=escape(", ".join(topic.require)))
    if topic.exclude:
        line += " " + _("<i>not</i> {terms}").format(terms=escape(", ".join(topic.exclude)))
    return line


def help_text(channels: Sequence[Channel], topics: Sequence[Topic], *, operator: bool) -> str:
    watched = ", ".join(
        escape(c.handle if c.handle.isdigit() else "@" + c.handle) for c in channels
    ) or _("none yet")
    topic_lines = "\n".join(_topic_line(topic) for topic in topics) or _("none yet")
    text = _(
        "<b>What I watch</b>\n"
        "Channels: {channels}\n"
        "Topics:\n{topics}\n\n"
        "A post matches a topic when it contains one of its terms in any form "
        "(выборы finds выборах, выборами…).\n\n"
        "<b>Commands</b>\n"
        "/topics — topics with subscribe buttons\n"
        "/subscribe — all topics; /subscribe NAME — one (or several, comma-separated)\n"
        "/unsubscribe — from all; /unsubscribe NAME — from one\n"
        "/recent [N] — the last N matches for your topics (default 10, at most {recent_max})\n"
        "/search WORDS — every stored post with all the words, newest first\n"
        "/trend [TOPIC …] [7d|30d|90d] — a chart of matching posts per day\n"
        "/digest HH:MM [daily|weekly] — when your digest comes; /digest off\n"
        "/mode instant|digest|both — alerts per post, a digest, or both\n"
        "/timezone Area/City — e.g. /timezone Europe/Moscow\n"
        "/quiet — alerts without sound (send again to turn sound back on)\n"
        "/copies on|off — copies in other channels edit the first alert, or alert each\n"
        "/language ru|en — the language I speak here\n\n"
        "In a group, only its admins can change subscriptions and settings."
    ).format(channels=watched, topics=topic_lines, recent_max=RECENT_MAX)
    if operator:
        text += "\n\n" + _(
            "<b>Operator commands</b>\n"
            "/addchannel @name [web] — watch a channel (a t.me link works too; web reads the "
            "public t.me page instead of the Telegram account). Its recent posts are stored "
            "as history without alerts.\n"
            "/removechannel @name — stop watching (stored posts stay searchable)\n"
            "/channels — watched channels and their health\n"
            "{addtopic}\n"
            "Terms: a word or phrase matches every form; =word only that spelling; "
            "name:Word a proper name (capitalised forms only); re:REGEX a regular "
            "expression. The same name replaces a topic's terms.\n"
            "/removetopic NAME — stop matching a topic\n"
            "/stats — posts, matches, subscribers, queue and failing channels; "
            "/stats chart — the last 30 days as a chart"
        ).format(addtopic=escape(_(ADDTOPIC_USAGE)))
    return text


def topics_text(topics: Sequence[Topic], subscribed: set[int]) -> str:
    if not topics:
        return no_topics()
    lines = [_topic_line(topic) for topic in topics]
    count = sum(1 for topic in topics if topic.id in subscribed)
    return (
        _("<b>Topics</b> — tap a button to subscribe or unsubscribe.")
        + "\n"
        + "\n".join(lines)
        + "\n\n"
        + _("Subscribed: {count} of {total}.").format(count=count, total=len(topics))
    )


def topic_button(topic: Topic, subscribed: bool) -> str:
    # Button labels are plain text: no escaping, and no words to translate.
    return f"✅ {topic.name}" if subscribed else f"➕ {topic.name}"


def _names(topics: Sequence[Topic]) -> str:
    return ", ".join(f"<b>{escape(topic.name)}</b>" for topic in topics)


def subscribed_text(topics: Sequence[Topic], added: int) -> str:
    if not topics:
        return no_topics()
    if added == 0:
        return _("Already subscribed to {topics}.").format(topics=_names(topics))
    return _("Subscribed to {topics}. Alerts will come here; /recent shows the latest.").format(
        topics=_names(topics)
    )


def unsubscribed_text(topics: Sequence[Topic] | None, removed: int) -> str:
    if topics is None:
        if removed == 0:
            return _("You had no subscriptions.")
        return _(
            "Unsubscribed from {count} topic. /topics to pick again.",
            "Unsubscribed from all {count} topics. /topics to pick again.",
            removed,
        ).format(count=removed)
    if removed == 0:
        return _("You were not subscribed to {topics}.").format(topics=_names(topics))
    return _("Unsubscribed from {topics}.").format(topics=_names(topics))


def toggled_text(topic: Topic, subscribed: bool) -> str:
    # Callback answers are plain text.
    if subscribed:
        return _("Subscribed to {topic}").format(topic=topic.name)
    return _("Unsubscribed from {topic}").format(topic=topic.name)


def _mode_words(mode: str) -> str:
    if mode == "digest":
        return _("only the digest")
    if mode == "both":
        return _("an alert for every matching post and the digest")
    return _("an alert for every matching post")


def _mode_name(mode: str) -> str:
    if mode == "digest":
        return _("digest")
    if mode == "both":
        return _("both")
    return _("instant")


def _digest_phrase(subscriber: Subscriber) -> str:
    if subscriber.digest_period == "weekly":
        phrase = _("every Monday at {time} ({zone})")
    else:
        phrase = _("every day at {time} ({zone})")
    return phrase.format(time=subscriber.digest_time, zone=escape(subscriber.timezone))


def settings_text(subscriber: Subscriber) -> str:
    digest = _digest_phrase(subscriber) if subscriber.wants_digest else _("off")
    sound = _("Alerts come without sound.") if subscriber.quiet else _("Alerts come with sound.")
    return (
        _("Mode: <b>{mode}</b> — {meaning}.").format(
            mode=_mode_name(subscriber.mode), meaning=_mode_words(subscriber.mode)
        )
        + "\n"
        + _("Digest: {digest}.").format(digest=digest)
        + "\n"
        + _("Time zone: {zone}.").format(zone=escape(subscriber.timezone))
        + "\n"
        + sound
    )


def digest_settings_text(subscriber: Subscriber) -> str:
    return (
        settings_text(subscriber)
        + "\n\n"
        + _("Change it with /digest HH:MM [daily|weekly] or /digest off.")
    )


def mode_settings_text(subscriber: Subscriber) -> str:
    return settings_text(subscriber) + "\n\n" + _("Change it with /mode instant|digest|both.")


def digest_set_text(subscriber: Subscriber, mode_changed: bool) -> str:
    text = _("Digest set: {when}.").format(when=_digest_phrase(subscriber))
    if mode_changed:
        text += " " + _("Per-post alerts stay on too (/mode digest for the digest only).")
    return text


def digest_off_text(was_on: bool) -> str:
    if not was_on:
        return _("The digest was already off; you get an alert for every matching post.")
    return _("Digest off. You get an alert for every matching post.")


def mode_text(subscriber: Subscriber) -> str:
    text = _("Mode: <b>{mode}</b> — {meaning}.").format(
        mode=_mode_name(subscriber.mode), meaning=_mode_words(subscriber.mode)
    )
    if subscriber.wants_digest:
        text += " " + _("Digest {when}; change it with /digest HH:MM.").format(
            when=_digest_phrase(subscriber)
        )
    return text


def timezone_text(subscriber: Subscriber) -> str:
    return _(
        "Time zone set to <b>{zone}</b>. Digest times and dates are read in it "
        "(digest now at {time})."
    ).format(zone=escape(subscriber.timezone), time=subscriber.digest_time)


def show_timezone_text(subscriber: Subscriber) -> str:
    return _(
        "Your time zone is <b>{zone}</b>. "
        "Change it with /timezone Area/City, e.g. /timezone Europe/Moscow."
    ).format(zone=escape(subscriber.timezone))


def quiet_text(quiet: bool) -> str:
    if quiet:
        return _("Quiet on: alerts and digests arrive without sound. /quiet again to undo.")
    return _("Quiet off: alerts and digests arrive with sound.")


def copies_text(group: bool) -> str:
    if group:
        return _(
            "Copies on: when other channels repost a story you were alerted of, the alert is "
            "edited to name them, with links, instead of alerting again. /copies off to get "
            "every copy as an alert."
        )
    return _(
        "Copies off: every copy of a story in another channel alerts you. /copies on to add "
        "them to the first alert instead."
    )


def language_name(language: str) -> str:
    """A language's name in itself, so a reader of either finds their own."""
    return {ENGLISH: "English", RUSSIAN: "русский"}.get(language, language)


def language_text(language: str) -> str:
    return _("I speak {language} here. Change it with /language ru or /language en.").format(
        language=language_name(language)
    )


def language_set_text(language: str) -> str:
    return _(
        "From now on I speak {language} here: answers, alerts, digests and the command menu."
    ).format(language=language_name(language))


def recent_header(count: int) -> str:
    return _(
        "<b>Latest {count} matching post</b>, newest first:",
        "<b>Latest {count} matching posts</b>, newest first:",
        count,
    ).format(count=count)


def recent_empty(has_topics: bool) -> str:
    if not has_topics:
        return _("You are not subscribed to any topic yet: /topics or /subscribe.")
    return _("Nothing yet: no post has matched your topics so far.")


def search_text(query: str, lines: Sequence[str], total: int, page: int, pages: int) -> str:
    word = _("Search")
    head = f"{SEARCH_MARK}{word}: {escape(query)}\n"
    if total == 0:
        return head + _("Nothing found. Try fewer or other words.")
    found = _(
        "{count} post found, page {page} of {pages}, newest first.",
        "{count} posts found, page {page} of {pages}, newest first.",
        total,
    ).format(count=total, page=page + 1, pages=pages)
    return head + found + "\n\n" + "\n\n".join(lines)


def search_query(first_line: str) -> str | None:
    """The query of a search result message from its first line (None: not a search)."""
    if not first_line.startswith(SEARCH_MARK):
        return None
    _word, colon, query = first_line.removeprefix(SEARCH_MARK).partition(": ")
    return query if colon and query else None


def channel_added_text(channel: Channel, added: bool) -> str:
    name = escape(channel.handle)
    if not added:
        return _("@{channel} is already watched ({source}).").format(
            channel=name, source=channel.source
        )
    text = _(
        "Now watching @{channel} ({source}). The first read stores its recent posts "
        "as history without alerts; new posts after that are matched and alerted."
    ).format(channel=name, source=channel.source)
    reader = _reader_line(channel)
    return text if reader is None else f"{text}\n{reader}"


def channel_removed_text(handle: str) -> str:
    return _("Stopped watching @{channel}. Its stored posts stay searchable.").format(
        channel=escape(handle)
    )


def unassigned_reason(code: str | None) -> str:
    """Why no Telegram account reads a channel, for operators."""
    if code == UNASSIGNED_FULL:
        return _(
            "no Telegram account has room (each reads at most telegram.channels_per_account "
            "channels): add an account or raise the limit"
        )
    return _("no Telegram account is working: see /stats")


def _reader_line(channel: Channel) -> str | None:
    """Which Telegram account reads a telegram channel, or why none does."""
    if channel.account:
        return _("read by Telegram account {account}").format(account=escape(channel.account))
    if channel.unassigned:
        return _("⚠️ not read: {reason}").format(reason=unassigned_reason(channel.unassigned))
    return None


def channels_text(channels: Sequence[Channel], tz: tzinfo | None) -> list[str]:
    """One block per channel (the caller splits them into messages)."""
    if not channels:
        return [_("No channels are watched. Add one with /addchannel @name.")]
    blocks = [_("<b>Watched channels: {count}</b>").format(count=len(channels))]
    for channel in channels:
        title = f" — {escape(channel.title)}" if channel.title else ""
        source = (
            _("source: {source}, from config").format(source=channel.source)
            if channel.from_config
            else _("source: {source}").format(source=channel.source)
        )
        lines = [
            f"<b>@{escape(channel.handle)}</b>{title}",
            source
            + "; "
            + _("posts stored: {count}; last post seen: {post}").format(
                count=channel.post_count,
                post=channel.last_post_id if channel.last_post_id else _("none yet"),
            ),
            _("last ok: {when}").format(when=when(channel.last_ok_at, tz)),
        ]
        reader = _reader_line(channel)
        if reader is not None:
            lines.append(reader)
        if channel.last_error:
            lines.append(
                _("⚠️ last error ({when}): {error}").format(
                    when=when(channel.last_error_at, tz), error=escape(channel.last_error)
                )
            )
        blocks.append("\n".join(lines))
    return blocks


def topic_saved_text(name: str, created: bool, terms: int) -> str:
    if created:
        text = _(
            "Topic <b>{topic}</b> added with {count} term; "
            "new posts are matched against it from now on. See /topics.",
            "Topic <b>{topic}</b> added with {count} terms; "
            "new posts are matched against it from now on. See /topics.",
            terms,
        )
    else:
        text = _(
            "Topic <b>{topic}</b> updated with {count} term; "
            "new posts are matched against it from now on. See /topics.",
            "Topic <b>{topic}</b> updated with {count} terms; "
            "new posts are matched against it from now on. See /topics.",
            terms,
        )
    return text.format(topic=escape(name), count=terms)


def topic_removed_text(name: str) -> str:
    return _("Topic <b>{topic}</b> removed; its subscribers no longer get its alerts.").format(
        topic=escape(name)
    )


def stats_text(stats: Stats, failing: Sequence[Channel], tz: tzinfo | None) -> str:
    lines = [
        _("<b>Statistics</b>"),
        _("Channels watched: {count}").format(count=stats.channels),
        _("Posts stored: {count}").format(count=stats.posts),
        _("Matches: {count}").format(count=stats.matches),
        _("Subscribers: {count} ({active} active)").format(
            count=stats.subscribers, active=stats.active_subscribers
        ),
        _("Messages queued: {queued}; sent: {sent}; failed: {failed}").format(
            queued=stats.queued, sent=stats.sent, failed=stats.failed
        ),
    ]
    if failing:
        lines.append("\n" + _("<b>Channels with errors: {count}</b>").format(count=len(failing)))
        lines.extend(
            f"@{escape(c.handle)} ({when(c.last_error_at, tz)}): {escape(c.last_error or '')}"
            for c in failing
        )
    else:
        lines.append(_("All channels healthy."))
    return "\n".join(lines)


def retention_text(
    policy: RetentionPolicy,
    last: RetentionRun | None,
    totals: RetentionTotals,
    tz: tzinfo | None,
) -> str:
    """/stats' retention block: what is kept, and what the daily pass removed."""

    def kept(days: int) -> str:
        if not days:
            return _("forever")
        return _("{count} day", "{count} days", days).format(count=days)

    lines = [
        _("<b>Retention</b>"),
        _("Posts kept {posts}; posts with matches {matched}; sent messages {messages}.").format(
            posts=kept(policy.keep_days),
            matched=kept(policy.keep_matched_days),
            messages=kept(SENT_MESSAGE_DAYS),
        ),
    ]
    if last is None:
        lines.append(_("Not run yet: the daily pass starts 10 minutes after chanwatch does."))
        return "\n".join(lines)
    lines.append(
        _(
            "Last pass {when}: removed {posts} posts, {matched} with matches, "
            "{messages} sent messages; {size} MiB given back."
        ).format(
            when=when(last.ran_at, tz),
            posts=last.posts,
            matched=last.matched_posts,
            messages=last.messages,
            size=f"{last.freed_bytes / 2**20:.1f}",
        )
    )
    lines.append(
        _(
            "All {runs} passes: {posts} posts, {matched} with matches, {messages} messages; "
            "{size} MiB."
        ).format(
            runs=totals.runs,
            posts=totals.posts,
            matched=totals.matched_posts,
            messages=totals.messages,
            size=f"{totals.freed_bytes / 2**20:.1f}",
        )
    )
    return "\n".join(lines)


def accounts_stats_text(accounts: Sequence[Account], unassigned: int, tz: tzinfo | None) -> str:
    """/stats for the Telegram accounts: each one's load and state, and channels none reads."""
    lines = [_("<b>Telegram accounts</b>")]
    for account in accounts:
        values = {
            "account": escape(account.name),
            "count": account.channels,
            "capacity": account.capacity,
        }
        if account.working:
            lines.append(_("{account}: {count}/{capacity} channels, working").format(**values))
        else:
            lines.append(
                _("⚠️ {account}: {count}/{capacity} channels, down since {when}: {reason}").format(
                    when=when(account.down_at, tz),
                    reason=escape(account.down_reason or ""),
                    **values,
                )
            )
    if unassigned:
        lines.append(
            _(
                "⚠️ {count} telegram channel has no account and is not read (see /channels)",
                "⚠️ {count} telegram channels have no account and are not read (see /channels)",
                unassigned,
            ).format(count=unassigned)
        )
    return "\n".join(lines)


def processes_stats_text(processes: Sequence[ProcessInfo], now: datetime) -> str:
    """/stats: the live `chanwatch run` processes sharing the database, and which one is the
    active bot (the others of roles bot and all stand by)."""
    lines = [_("<b>Processes</b>")]
    for process in processes:
        values = {
            "role": escape(process.role),
            "host": escape(process.host),
            "pid": process.pid,
            "count": process.channels,
            "seconds": max(0, round((now - process.heartbeat_at).total_seconds())),
        }
        if process.office is not None:
            line = _(
                "<code>{role}</code> on {host}, pid {pid}: active bot, {count} channel, "
                "heartbeat {seconds} s ago",
                "<code>{role}</code> on {host}, pid {pid}: active bot, {count} channels, "
                "heartbeat {seconds} s ago",
                process.channels,
            )
        elif process.role != "monitor":
            line = _(
                "<code>{role}</code> on {host}, pid {pid}: standby bot, {count} channel, "
                "heartbeat {seconds} s ago",
                "<code>{role}</code> on {host}, pid {pid}: standby bot, {count} channels, "
                "heartbeat {seconds} s ago",
                process.channels,
            )
        else:
            line = _(
                "<code>{role}</code> on {host}, pid {pid}: {count} channel, "
                "heartbeat {seconds} s ago",
                "<code>{role}</code> on {host}, pid {pid}: {count} channels, "
                "heartbeat {seconds} s ago",
                process.channels,
            )
        lines.append(line.format(**values))
    return "\n".join(lines)


def account_down_notice(
    account: str, reason: str, moves: Sequence[Assignment], *, final: bool
) -> str:
    """To operators, once, when a Telegram account stops working (the reason stays as the
    source gave it, like a log line).

    `final`: Telegram refused the account itself (it needs a new login); else it kept failing
    and is tried again on its own."""
    name = escape(account)
    parts = [
        _("⚠️ Telegram account <b>{account}</b> stopped working: {reason}.").format(
            account=name, reason=escape(reason)
        )
    ]
    moved = [m for m in moves if m.after is not None]
    stranded = [m for m in moves if m.after is None]
    if moved:
        parts.append(
            _("Now read by other accounts: {moves}.").format(
                moves=", ".join(f"@{escape(m.handle)} → {escape(m.after or '')}" for m in moved)
            )
        )
    if stranded:
        parts.append(
            _(
                "{channels} is not read now: {reason}.",
                "{channels} are not read now: {reason}.",
                len(stranded),
            ).format(
                channels=", ".join(f"@{escape(m.handle)}" for m in stranded),
                reason=unassigned_reason(stranded[0].unassigned),
            )
        )
    if not moves:
        parts.append(_("It read no channels."))
    if final:
        parts.append(
            _(
                "To use it again: <code>chanwatch login --account {account}</code>, "
                "then restart chanwatch."
            ).format(account=name)
        )
    else:
        parts.append(_("It is tried again and takes channels once it works."))
    return " ".join(parts)


def account_recovered_notice(account: str, moves: Sequence[Assignment]) -> str:
    """To operators when a Telegram account that was down works again."""
    text = _("✅ Telegram account <b>{account}</b> works again.").format(account=escape(account))
    if not moves:
        return text
    taken = _("It now reads {channels}.").format(
        channels=", ".join(f"@{escape(m.handle)}" for m in moves)
    )
    return f"{text} {taken}"


def stats_chart_button() -> str:
    return _("📈 Last 30 days")


def other_bot_command(mention: str) -> str:
    return _(
        "That command is addressed to @{bot}, not to me. Send /help to see what I can do."
    ).format(bot=escape(mention))


def error_message(error: ChanwatchError) -> str:
    """The error's message in the current language (its templates translated, then filled)."""
    parts = [error.template]
    if isinstance(error, CommandError) and error.usage is not None:
        parts.append(error.usage)
    translated = [_(part) for part in parts]
    if error.values:
        translated = [part.format(**error.values) for part in translated]
    return "\n".join(translated)


def error_text(error: ChanwatchError) -> str:
    return f"⚠️ {escape(error_message(error))}"


def operator_error_notice(chat_id: int, update_id: int, error: BaseException) -> str:
    return _(
        "⚠️ The bot failed on update {update} from chat {chat}: {error}. Details are in the log."
    ).format(
        update=update_id,
        chat=chat_id,
        error=f"<code>{escape(type(error).__name__)}: {escape(str(error)[:500])}</code>",
    )


def source_failed_notice(channel: str, message: str) -> str:
    """To operators when a channel's source starts failing (the reason stays as the source
    gave it: a technical detail, like a log line)."""
    return _("⚠️ Channel <b>{channel}</b> fails: {reason}").format(
        channel=escape(channel), reason=escape(message)
    )


def source_recovered_notice(channel: str) -> str:
    """To operators when a failing channel works again."""
    return _("✅ Channel <b>{channel}</b> works again.").format(channel=escape(channel))


CAPTION_NAME_MAX = 48
"""Characters of a topic name in a chart caption: eight of them stay far below Telegram's
1,024-character caption limit."""


def _clip_name(name: str) -> str:
    return name if len(name) <= CAPTION_NAME_MAX else name[: CAPTION_NAME_MAX - 1] + "…"


def trend_title(days: int) -> str:
    return _(
        "Matching posts per day, last {days} day",
        "Matching posts per day, last {days} days",
        days,
    ).format(days=days)


def week_chart_title(first: date, last: date) -> str:
    return _("Matching posts per day, {span}").format(span=dates.days(first, last))


def _totals(series: Sequence[Series]) -> str:
    return " · ".join(f"{escape(_clip_name(item.name))}: <b>{item.total}</b>" for item in series)


def trend_caption(title: str, series: Sequence[Series], hidden: int) -> str:
    total = sum(item.total for item in series)
    lines = [
        "📈 " + title,
        _totals(series),
        _("Total: {count} matching post", "Total: {count} matching posts", total).format(
            count=total
        ),
    ]
    if hidden:
        lines.append(
            _(
                "{count} more topic is not shown (the quietest). "
                "Name the ones to draw: /trend NAME NAME 30d",
                "{count} more topics are not shown (the quietest). "
                "Name the ones to draw: /trend NAME NAME 30d",
                hidden,
            ).format(count=hidden)
        )
    return "\n".join(lines)


def trend_empty(topics: Sequence[Topic], days: int) -> str:
    return _(
        "No post matched {topics} in the last {days} day.",
        "No post matched {topics} in the last {days} days.",
        days,
    ).format(topics=_names(topics), days=days)


def trend_no_topics() -> str:
    return _(
        "You follow no topics yet, so there is nothing to draw. "
        "Name topics (/trend visit 7d) or /subscribe to some."
    )


def chart_failed() -> str:
    return _("(The chart could not be drawn this time; the figures are above.)")


def activity_names() -> tuple[str, str, str]:
    return (_("Posts published"), _("Matches"), _("Alerts sent"))


def activity_title(days: int) -> str:
    return _("Last {days} day", "Last {days} days", days).format(days=days)


def activity_caption(series: Sequence[Series], days: int) -> str:
    return "📊 " + activity_title(days) + "\n" + _totals(series)
