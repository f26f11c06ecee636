"""Operator notices queued in the outbox, each in its operator's language.

Apart from `bot.delivery`, which sends them, because a monitor process queues them too and
has no bot: this module does not import aiogram (see `bot.i18n`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.i18n import Catalogs, speaking
from storage import Store
from storage.models import NewMessage


async def queue_operator_notice(
    store: Store, i18n: Catalogs, admins: Sequence[int], write: Callable[[], str], *, key: str
) -> bool:
    """Queue an HTML notice to every operator (see `Delivery.notify_operators`) without
    sending it: a process with no bot of its own (a monitor) leaves it to the bot process.
    True when something new was queued."""
    messages = []
    for admin in dict.fromkeys(admins):
        subscriber = await store.subscribers.get(admin)
        with speaking(i18n, subscriber.language if subscriber is not None else None):
            text = write()
        messages.append(
            NewMessage(chat_id=admin, kind="notice", dedup_key=f"notice:{key}:{admin}", text=text)
        )
    return bool(await store.outbox.enqueue(messages))
