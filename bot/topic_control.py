"""Seams through which operator commands make the running pipeline pick up their changes."""

from __future__ import annotations

from typing import Protocol


class TopicControl(Protocol):
    async def topics_changed(self) -> None:
        """Topics in the database changed: recompile the matcher before the next post."""


class ChannelControl(Protocol):
    async def channels_changed(self) -> None:
        """Watched channels in the database changed: sources start/stop reading them now."""
