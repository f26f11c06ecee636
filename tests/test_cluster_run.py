"""`chanwatch run --role …` as subprocesses: monitors sharing channels on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e_harness import TOKEN, command


@pytest.mark.parametrize("role", ["monitor", "bot"])
async def test_a_role_other_than_all_is_refused_with_sqlite(tmp_path: Path, role: str) -> None:
    config = tmp_path / "chanwatch.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\n[[channels]]\nhandle = "pul_1"\nsource = "web"\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        command(), "run", "--role", role, "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == [
        f"chanwatch: --role {role} needs PostgreSQL (storage.url): with SQLite one process does "
        "everything, so run it with --role all (the default)"
    ]
