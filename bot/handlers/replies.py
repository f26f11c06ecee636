"""Sending answers that may be longer than one Telegram message."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import Message

from bot.render import MESSAGE_LIMIT, fits, split_messages


def _fitting(block: str) -> list[str]:
    """The block, or its lines regrouped into pieces that each fit one message.

    The texts keep every HTML tag within one line, so cutting between lines is safe.
    """
    if fits(block):
        return [block]
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        if not fits(line):
            line = line[: MESSAGE_LIMIT // 2] + "…"  # only plain over-long lines get here
        candidate = f"{current}\n{line}" if current else line
        if current and not fits(candidate):
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


async def answer_blocks(message: Message, blocks: Sequence[str]) -> None:
    """Answer with the blocks, packed into as few messages of <= 4096 characters as fit."""
    fitting = [piece for block in blocks for piece in _fitting(block)]
    for text in split_messages(fitting):
        await message.answer(text)
