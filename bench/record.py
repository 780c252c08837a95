"""What a bench run leaves behind: its results as JSON (bench/results/NAME.json) with the
commit, the machine and the conditions, and the tables it printed, as rows.

bench/README.md's tables are written from these files (`python -m bench.report`), so a
number in the README is one a run produced, with the conditions it was measured under.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "Table", "conditions", "save"]

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    # Markdown alignment per column: "---" or "---:".
    align: list[str] | None = None

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        align = self.align or ["---"] * len(self.columns)
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(align) + "|",
            *("| " + " | ".join(r) + " |" for r in self.rows),
        ]
        return "\n".join(lines)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Table:
        return cls(data["title"], data["columns"], data["rows"], data.get("align"))


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return round(pages / 2**30, 1)
    except (ValueError, OSError):
        return 0.0


def conditions(**extra: object) -> dict[str, object]:
    """The commit, the machine and the software, with the run's own conditions."""
    import onnxruntime

    return {
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": f"{_cpu()}, {os.cpu_count()} cores, {_memory_gib()} GiB",
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        **extra,
    }


def save(
    name: str,
    cond: dict[str, object],
    tables: list[Table],
    raw: object = None,
    folder: Path = RESULTS,
) -> Path:
    """Write bench/results/NAME.json and print its tables."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    data = {"bench": name, "conditions": cond, "tables": [asdict(t) for t in tables]}
    if raw is not None:
        data["results"] = raw
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=float) + "\n")
    print(describe(cond))
    for t in tables:
        print()
        print(f"**{t.title}**" if t.title else "")
        print()
        print(t.markdown())
    print(f"\n(written to {path})")
    return path


def describe(cond: dict[str, object]) -> str:
    """The conditions as one line."""
    return "; ".join(f"{k} {v}" for k, v in cond.items())
