"""Every setting and CLI command is documented in README.md."""

from __future__ import annotations

from pathlib import Path

import click

from tongtu.cli import main
from tongtu.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [n for n in Settings.model_fields if f"TONGTU_{n.upper()}" not in README]
    assert not missing


def _commands(group: click.Group, prefix: str = "tongtu") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def test_every_cli_command_is_in_the_readme() -> None:
    missing = [c for c in _commands(main) if f"`{c}" not in README]
    assert not missing
