"""The garbage collector's settings `chanwatch run` sets for its process (chanwatch.heap):
in force while it runs, as they were once it stops (a test process goes on after it)."""

from __future__ import annotations

import gc
from pathlib import Path

from chanwatch.heap import YOUNG_THRESHOLD
from tests.fakes.bot_api import FakeBotAPI
from tests.test_telegram_accounts import all_read, running, telegram_with, until, write_config


async def test_run_collects_young_objects_less_often_skips_start_up_and_puts_back(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    world = telegram_with(tmp_path, ["a"], ["chan_1"])
    async with FakeBotAPI() as api:
        config = write_config(tmp_path, api, ["a"], ["chan_1"])
        async with running(config, api, world) as store:
            await until(lambda: all_read(store), "the channel read")
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
            # What start-up made (modules, the matcher, the detector) is out of the walks.
            assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
