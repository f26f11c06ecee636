"""A chat's delivery settings: /digest, /mode, /timezone, /quiet, /copies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import texts
from bot.filters import CanManageChat
from bot.parsing import parse_copies, parse_digest, parse_mode, parse_timezone
from storage import Store
from storage.models import Subscriber

if TYPE_CHECKING:
    from bot.digests import DigestScheduler


async def _reload(store: Store, chat_id: int) -> Subscriber:
    subscriber = await store.subscribers.get(chat_id)
    assert subscriber is not None, "the subscriber middleware creates the row first"
    return subscriber


async def digest(
    message: Message,
    command: CommandObject,
    store: Store,
    digests: DigestScheduler,
    subscriber: Subscriber,
) -> None:
    request = parse_digest(command.args)
    chat_id = message.chat.id
    if request is None:
        await message.answer(texts.digest_settings_text(subscriber))
        return
    if request.off:
        await store.subscribers.update(chat_id, mode="instant")
        await digests.reschedule(chat_id)
        await message.answer(texts.digest_off_text(subscriber.wants_digest))
        return
    # Asking for a digest time means wanting the digest; per-post alerts are kept.
    mode = "both" if subscriber.mode == "instant" else None
    await store.subscribers.update(
        chat_id, digest_time=request.time, digest_period=request.period, mode=mode
    )
    await digests.reschedule(chat_id)
    await message.answer(texts.digest_set_text(await _reload(store, chat_id), mode is not None))


async def mode(
    message: Message,
    command: CommandObject,
    store: Store,
    digests: DigestScheduler,
    subscriber: Subscriber,
) -> None:
    chosen = parse_mode(command.args)
    if chosen is None:
        await message.answer(texts.mode_settings_text(subscriber))
        return
    await store.subscribers.update(message.chat.id, mode=chosen)
    await digests.reschedule(message.chat.id)
    await message.answer(texts.mode_text(await _reload(store, message.chat.id)))


async def timezone(
    message: Message,
    command: CommandObject,
    store: Store,
    digests: DigestScheduler,
    subscriber: Subscriber,
) -> None:
    zone = parse_timezone(command.args)
    if zone is None:
        await message.answer(texts.show_timezone_text(subscriber))
        return
    await store.subscribers.update(message.chat.id, timezone=zone)
    await digests.reschedule(message.chat.id)
    await message.answer(texts.timezone_text(await _reload(store, message.chat.id)))


async def copies(
    message: Message, command: CommandObject, store: Store, subscriber: Subscriber
) -> None:
    group = parse_copies(command.args)
    if group is None:
        await message.answer(texts.copies_text(subscriber.group_copies))
        return
    await store.subscribers.update(message.chat.id, group_copies=group)
    await message.answer(texts.copies_text(group))


async def quiet(message: Message, store: Store) -> None:
    await message.answer(texts.quiet_text(await store.subscribers.toggle_quiet(message.chat.id)))


def build_router() -> Router:
    """A fresh router with this feature's handlers (a router joins one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(digest, Command("digest"), CanManageChat())
    router.channel_post.register(digest, Command("digest"), CanManageChat())
    router.message.register(mode, Command("mode"), CanManageChat())
    router.channel_post.register(mode, Command("mode"), CanManageChat())
    router.message.register(timezone, Command("timezone"), CanManageChat())
    router.channel_post.register(timezone, Command("timezone"), CanManageChat())
    router.message.register(quiet, Command("quiet"), CanManageChat())
    router.message.register(copies, Command("copies"), CanManageChat())
    router.channel_post.register(copies, Command("copies"), CanManageChat())
    router.channel_post.register(quiet, Command("quiet"), CanManageChat())
    return router
