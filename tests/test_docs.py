"""Every setting and CLI command is documented, and the docs name no other (docs/)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tongtu.cli import main
from tongtu.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
SETTINGS = (DOCS / "settings.md").read_text(encoding="utf-8")
CLI = (DOCS / "cli.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "tongtu") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def _cli_environment(group: click.Group) -> set[str]:
    """The environment variables the CLI's options read (click's `envvar`)."""
    found = {p.envvar for p in group.params if isinstance(getattr(p, "envvar", None), str)}
    for cmd in group.commands.values():
        found |= (
            _cli_environment(cmd)
            if isinstance(cmd, click.Group)
            else {p.envvar for p in cmd.params if isinstance(getattr(p, "envvar", None), str)}
        )
    return {str(v) for v in found}


def test_settings_page_and_settings_agree_both_ways() -> None:
    fields = {f"TONGTU_{n.upper()}" for n in Settings.model_fields}
    documented = set(re.findall(r"^\| `(TONGTU_[A-Z_]+)` \|", SETTINGS, re.M))
    cli_env = _cli_environment(main)
    assert fields - documented == set(), "settings missing from docs/settings.md"
    assert cli_env - documented == set(), "CLI environment missing from docs/settings.md"
    assert documented - fields - cli_env == set(), "docs/settings.md names no such setting"


def test_cli_page_and_commands_agree_both_ways() -> None:
    commands = set(_commands(main))
    documented = set(re.findall(r"^\| `(tongtu [a-z]+(?: [a-z]+)?)", CLI, re.M))
    assert {c for c in commands if f"`{c}" not in CLI} == set(), "commands missing from docs"
    assert {
        d
        for d in documented
        if d not in commands and not any(c.startswith(d + " ") for c in commands)
    } == set(), "docs/cli.md names no such command"


def test_bench_readme_tables_are_the_recorded_results() -> None:
    """bench/README.md's tables are written from bench/results/*.json (bench/report.py):
    a table edited by hand, or a run recorded and not written in, fails here."""
    from bench.report import BLOCK, README, render

    text = README.read_text(encoding="utf-8")
    names = [m.group(2) for m in BLOCK.finditer(text)]
    assert names, "bench/README.md marks no results"
    assert render(text) == text, "run python -m bench.report"
    # outside the blocks, only the index of benches: a header, a rule, a row each
    outside = [line for line in BLOCK.sub("", text).splitlines() if line.startswith("|")]
    assert len(outside) == 2 + len(names), "a table outside the results blocks"
