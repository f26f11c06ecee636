"""Everything the bot says in conversation, as HTML. Every user-given string is escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Final

from bot.parsing import ADDTOPIC_USAGE, RECENT_MAX
from storage.models import (
    UNASSIGNED_FULL,
    Account,
    Assignment,
    Channel,
    Stats,
    Subscriber,
    Topic,
)

NOT_OPERATOR: Final = "Sorry, only the bot's operators can use this command."
NOT_CHAT_ADMIN: Final = (
    "Sorry, only this group's admins can change its subscriptions and settings."
)
UNKNOWN_COMMAND: Final = "I don't know that command. Send /help to see what I can do."
NOT_A_COMMAND: Final = "I answer commands. Send /help to see them."
GENERIC_ERROR: Final = (
    "Sorry, something went wrong on my side. The operators have been told; please try again later."
)
NO_TOPICS: Final = "No topics are configured yet. The operators add them with /addtopic."
SEARCH_EXPIRED: Final = "This search is too old to page through; send /search again."
SEARCH_PREFIX: Final = "🔎 Search: "
"""First line of a search result message; paging reads the query back from it."""

_MODE_WORDS: Final = {
    "instant": "an alert for every matching post",
    "digest": "only the digest",
    "both": "an alert for every matching post and the digest",
}


def when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def start_text(name: str | None, *, group: bool) -> str:
    hello = f"Hello, {escape(name)}!" if name else "Hello!"
    target = "this group" if group else "you"
    return (
        f"{hello} I watch Telegram channels and tell {target} when a post mentions a topic, "
        "in any inflected form of its words.\n\n"
        "• /topics — pick topics with buttons, or /subscribe to all of them\n"
        "• /recent — the latest matching posts\n"
        "• /search WORDS — search every stored post\n"
        "• /help — what is watched and every command"
    )


def _topic_line(topic: Topic) -> str:
    terms = ", ".join(topic.terms[:8]) + (", …" if len(topic.terms) > 8 else "")
    line = f"• <b>{escape(topic.name)}</b>: {escape(terms)}"
    if topic.require:
        line += f" <i>with</i> {escape(', '.join(topic.require))}"
    if topic.exclude:
        line += f" <i>not</i> {escape(', '.join(topic.exclude))}"
    return line


def help_text(channels: Sequence[Channel], topics: Sequence[Topic], *, operator: bool) -> str:
    watched = (
        ", ".join(escape(c.handle if c.handle.isdigit() else "@" + c.handle) for c in channels)
        or "none yet"
    )
    topic_lines = "\n".join(_topic_line(topic) for topic in topics) or "none yet"
    text = (
        "<b>What I watch</b>\n"
        f"Channels: {watched}\n"
        f"Topics:\n{topic_lines}\n\n"
        "A post matches a topic when it contains one of its terms in any form "
        "(выборы finds выборах, выборами…).\n\n"
        "<b>Commands</b>\n"
        "/topics — topics with subscribe buttons\n"
        "/subscribe — all topics; /subscribe NAME — one (or several, comma-separated)\n"
        "/unsubscribe — from all; /unsubscribe NAME — from one\n"
        f"/recent [N] — the last N matches for your topics (default 10, at most {RECENT_MAX})\n"
        "/search WORDS — every stored post with all the words, newest first\n"
        "/digest HH:MM [daily|weekly] — when your digest comes; /digest off\n"
        "/mode instant|digest|both — alerts per post, a digest, or both\n"
        "/timezone Area/City — e.g. /timezone Europe/Moscow\n"
        "/quiet — alerts without sound (send again to turn sound back on)\n\n"
        "In a group, only its admins can change subscriptions and settings."
    )
    if operator:
        text += (
            "\n\n<b>Operator commands</b>\n"
            "/addchannel @name [web] — watch a channel (a t.me link works too; web reads the "
            "public t.me page instead of the Telegram account). Its recent posts are stored "
            "as history without alerts.\n"
            "/removechannel @name — stop watching (stored posts stay searchable)\n"
            "/channels — watched channels and their health\n"
            f"{escape(ADDTOPIC_USAGE)}\n"
            "Terms: a word or phrase matches every form; =word only that spelling; "
            "name:Word a proper name (capitalised forms only); re:REGEX a regular "
            "expression. The same name replaces a topic's terms.\n"
            "/removetopic NAME — stop matching a topic\n"
            "/stats — posts, matches, subscribers, queue and failing channels"
        )
    return text


def topics_text(topics: Sequence[Topic], subscribed: set[int]) -> str:
    if not topics:
        return NO_TOPICS
    lines = [_topic_line(topic) for topic in topics]
    count = sum(1 for topic in topics if topic.id in subscribed)
    return (
        "<b>Topics</b> — tap a button to subscribe or unsubscribe.\n"
        + "\n".join(lines)
        + f"\n\nSubscribed: {count} of {len(topics)}."
    )


def topic_button(topic: Topic, subscribed: bool) -> str:
    # Button labels are plain text: no escaping.
    return f"✅ {topic.name}" if subscribed else f"➕ {topic.name}"


def _names(topics: Sequence[Topic]) -> str:
    return ", ".join(f"<b>{escape(topic.name)}</b>" for topic in topics)


def subscribed_text(topics: Sequence[Topic], added: int) -> str:
    if not topics:
        return NO_TOPICS
    if added == 0:
        return f"Already subscribed to {_names(topics)}."
    return f"Subscribed to {_names(topics)}. Alerts will come here; /recent shows the latest."


def unsubscribed_text(topics: Sequence[Topic] | None, removed: int) -> str:
    if topics is None:
        if removed == 0:
            return "You had no subscriptions."
        return f"Unsubscribed from all {removed} topics. /topics to pick again."
    if removed == 0:
        return f"You were not subscribed to {_names(topics)}."
    return f"Unsubscribed from {_names(topics)}."


def toggled_text(topic: Topic, subscribed: bool) -> str:
    # Callback answers are plain text.
    return f"Subscribed to {topic.name}" if subscribed else f"Unsubscribed from {topic.name}"


def _digest_phrase(subscriber: Subscriber) -> str:
    every = "every day" if subscriber.digest_period == "daily" else "every Monday"
    return f"{every} at {subscriber.digest_time} ({escape(subscriber.timezone)})"


def settings_text(subscriber: Subscriber) -> str:
    quiet = "without sound" if subscriber.quiet else "with sound"
    digest = _digest_phrase(subscriber) if subscriber.wants_digest else "off"
    return (
        f"Mode: <b>{subscriber.mode}</b> — {_MODE_WORDS.get(subscriber.mode, subscriber.mode)}.\n"
        f"Digest: {digest}.\n"
        f"Time zone: {escape(subscriber.timezone)}.\n"
        f"Alerts come {quiet}."
    )


def digest_set_text(subscriber: Subscriber, mode_changed: bool) -> str:
    text = f"Digest set: {_digest_phrase(subscriber)}."
    if mode_changed:
        text += " Per-post alerts stay on too (/mode digest for the digest only)."
    return text


def digest_off_text(was_on: bool) -> str:
    if not was_on:
        return "The digest was already off; you get an alert for every matching post."
    return "Digest off. You get an alert for every matching post."


def mode_text(subscriber: Subscriber) -> str:
    text = f"Mode: <b>{subscriber.mode}</b> — {_MODE_WORDS[subscriber.mode]}."
    if subscriber.wants_digest:
        text += f" Digest {_digest_phrase(subscriber)}; change it with /digest HH:MM."
    return text


def timezone_text(subscriber: Subscriber) -> str:
    return (
        f"Time zone set to <b>{escape(subscriber.timezone)}</b>. "
        f"Digest times are read in it (now {subscriber.digest_time})."
    )


def show_timezone_text(subscriber: Subscriber) -> str:
    return (
        f"Your time zone is <b>{escape(subscriber.timezone)}</b>. "
        "Change it with /timezone Area/City, e.g. /timezone Europe/Moscow."
    )


def quiet_text(quiet: bool) -> str:
    if quiet:
        return "Quiet on: alerts and digests arrive without sound. /quiet again to undo."
    return "Quiet off: alerts and digests arrive with sound."


def recent_header(count: int) -> str:
    return f"<b>Latest {count} matching post{'s' if count != 1 else ''}</b>, newest first:"


def recent_empty(has_topics: bool) -> str:
    if not has_topics:
        return "You are not subscribed to any topic yet: /topics or /subscribe."
    return "Nothing yet: no post has matched your topics so far."


def search_text(query: str, lines: Sequence[str], total: int, page: int, pages: int) -> str:
    head = f"{SEARCH_PREFIX}{escape(query)}\n"
    if total == 0:
        return head + "Nothing found. Try fewer or other words."
    found = f"{total} post{'s' if total != 1 else ''} found"
    return head + f"{found}, page {page + 1} of {pages}, newest first.\n\n" + "\n\n".join(lines)


def channel_added_text(channel: Channel, added: bool) -> str:
    name = escape(channel.handle)
    if not added:
        return f"@{name} is already watched ({channel.source})."
    text = (
        f"Now watching @{name} ({_source_line(channel)}). The first read stores its recent "
        "posts as history without alerts; new posts after that are matched and alerted."
    )
    if channel.unassigned:
        text += f"\n⚠️ Not read yet: {unassigned_reason(channel.unassigned)}."
    return text


def unassigned_reason(code: str | None) -> str:
    """Why no Telegram account reads a channel, for operators."""
    if code == UNASSIGNED_FULL:
        return (
            "no Telegram account has room: every working account already reads "
            "telegram.channels_per_account channels; add an account or raise the limit"
        )
    return "no Telegram account is working: see /stats, log one in and restart chanwatch"


def _source_line(channel: Channel) -> str:
    source = channel.source
    if channel.account:
        source += f" (account {escape(channel.account)})"
    return source + (", from config" if channel.from_config else "")


def channels_text(channels: Sequence[Channel]) -> list[str]:
    """One block per channel (the caller splits them into messages)."""
    if not channels:
        return ["No channels are watched. Add one with /addchannel @name."]
    blocks = [f"<b>Watched channels: {len(channels)}</b>"]
    for channel in channels:
        title = f" — {escape(channel.title)}" if channel.title else ""
        lines = [
            f"<b>@{escape(channel.handle)}</b>{title}",
            f"source: {_source_line(channel)}; "
            f"posts stored: {channel.post_count}; "
            f"last post seen: {channel.last_post_id if channel.last_post_id else 'none yet'}",
            f"last ok: {when(channel.last_ok_at)}",
        ]
        if channel.unassigned:
            lines.append(f"⚠️ unassigned, not read: {unassigned_reason(channel.unassigned)}")
        if channel.last_error:
            lines.append(
                f"⚠️ last error ({when(channel.last_error_at)}): {escape(channel.last_error)}"
            )
        blocks.append("\n".join(lines))
    return blocks


def topic_saved_text(name: str, created: bool, terms: int) -> str:
    verb = "added" if created else "updated"
    return (
        f"Topic <b>{escape(name)}</b> {verb} with {terms} term{'s' if terms != 1 else ''}; "
        "new posts are matched against it from now on. See /topics."
    )


def _account_line(account: Account) -> str:
    load = f"{escape(account.name)}: {account.channels}/{account.capacity} channels"
    if account.working:
        return f"{load}, working"
    return f"⚠️ {load}, down since {when(account.down_at)}: {escape(account.down_reason or '')}"


def stats_text(
    stats: Stats,
    failing: Sequence[Channel],
    accounts: Sequence[Account] = (),
    unassigned: int = 0,
) -> str:
    """`accounts`: the Telegram accounts' load, shown when telegram channels are watched."""
    lines = [
        "<b>Statistics</b>",
        f"Channels watched: {stats.channels}",
        f"Posts stored: {stats.posts}",
        f"Matches: {stats.matches}",
        f"Subscribers: {stats.subscribers} ({stats.active_subscribers} active)",
        f"Messages queued: {stats.queued}; sent: {stats.sent}; failed: {stats.failed}",
    ]
    if failing:
        lines.append(f"\n<b>Channels with errors: {len(failing)}</b>")
        lines.extend(
            f"@{escape(c.handle)} ({when(c.last_error_at)}): {escape(c.last_error or '')}"
            for c in failing
        )
    else:
        lines.append("All channels healthy.")
    if accounts:
        lines.append("\n<b>Telegram accounts</b>")
        lines.extend(_account_line(account) for account in accounts)
    if unassigned:
        lines.append(
            f"⚠️ {unassigned} telegram channel{'s' if unassigned != 1 else ''} without an "
            "account, not read (see /channels)"
        )
    return "\n".join(lines)


def other_bot_command(mention: str) -> str:
    return (
        f"That command is addressed to @{escape(mention)}, not to me. "
        "Send /help to see what I can do."
    )


def error_text(message: str) -> str:
    return f"⚠️ {escape(message)}"


def operator_error_notice(chat_id: int, update_id: int, error: BaseException) -> str:
    return (
        f"⚠️ The bot failed on update {update_id} from chat {chat_id}: "
        f"<code>{escape(type(error).__name__)}: {escape(str(error)[:500])}</code>. "
        "Details are in the log."
    )


def source_failed_notice(channel: str, message: str) -> str:
    """To operators when a channel's source starts failing."""
    return f"⚠️ Channel <b>{escape(channel)}</b> fails: {escape(message)}"


def source_recovered_notice(channel: str) -> str:
    """To operators when a failing channel works again."""
    return f"✅ Channel <b>{escape(channel)}</b> works again."


def _moves(moves: Sequence[Assignment]) -> str:
    moved = [m for m in moves if m.after is not None]
    stranded = [m for m in moves if m.after is None]
    parts = []
    if moved:
        parts.append(
            "Now read by other accounts: "
            + ", ".join(f"@{escape(m.handle)} → {escape(m.after or '')}" for m in moved)
            + "."
        )
    if stranded:
        names = ", ".join(f"@{escape(m.handle)}" for m in stranded)
        verb = "is" if len(stranded) == 1 else "are"
        parts.append(f"{names} {verb} not read now: {unassigned_reason(stranded[0].unassigned)}.")
    if not parts:
        parts.append("It read no channels.")
    return " ".join(parts)


def account_down_notice(
    account: str, reason: str, moves: Sequence[Assignment], *, final: bool
) -> str:
    """To operators, once, when a Telegram account stops working.

    `final`: Telegram refused the account itself (it needs a new login); else it kept failing
    and is tried again on its own."""
    name = escape(account)
    after = (
        f"To use it again: <code>chanwatch login --account {name}</code>, then restart chanwatch."
        if final
        else "It is tried again and takes channels once it works."
    )
    return (
        f"⚠️ Telegram account <b>{name}</b> stopped working: {escape(reason)}. "
        f"{_moves(moves)} {after}"
    )


def account_recovered_notice(account: str, moves: Sequence[Assignment]) -> str:
    """To operators when a Telegram account that was down works again."""
    taken = (
        " It now reads " + ", ".join(f"@{escape(m.handle)}" for m in moves) + "." if moves else ""
    )
    return f"✅ Telegram account <b>{escape(account)}</b> works again.{taken}"
