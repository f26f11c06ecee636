"""The README is the manual: its commands are the ones CI runs and every config key is in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command() -> None:
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command in [block.strip() for block in shell_blocks()]


def test_the_readme_run_command_installs_and_runs() -> None:
    assert any("pip install" in b and "chanwatch run" in b for b in shell_blocks())


def test_every_example_config_key_is_documented() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    missing = []
    for section, value in example.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            for key in table:
                if f"`{section}.{key}`" not in README:
                    missing.append(f"{section}.{key}")
    assert not missing, f"README does not document: {sorted(set(missing))}"
