"""Write bench/README.md's tables from bench/results/*.json.

The README marks where each run's tables go:

    <!-- results: hard-heldout -->
    … (written by this script) …
    <!-- /results -->

`python -m bench.report` rewrites those blocks; `--check` only says whether they are
current (tests/test_docs.py runs it), exiting 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.record import RESULTS, Table, describe

README = Path(__file__).resolve().parent / "README.md"
BLOCK = re.compile(r"(<!-- results: ([\w.-]+) -->\n)(.*?)(<!-- /results -->)", re.S)


def block(name: str, folder: Path = RESULTS) -> str:
    """The markdown of one run: its conditions, then its tables."""
    path = folder / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"bench/README.md names {name}, but {path} does not exist")
    data = json.loads(path.read_text())
    out = [f"*{describe(data['conditions'])}*"]
    for t in data["tables"]:
        table = Table.of(t)
        if table.title:
            out.append(f"**{table.title}**")
        out.append(table.markdown())
    return "\n\n".join(out) + "\n"


def render(text: str, folder: Path = RESULTS) -> str:
    return BLOCK.sub(lambda m: m.group(1) + block(m.group(2), folder) + m.group(4), text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if a block is not current")
    args = ap.parse_args()
    text = README.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print("bench/README.md is not what bench/results says: run python -m bench.report")
            sys.exit(1)
        return
    README.write_text(new)


if __name__ == "__main__":
    main()
