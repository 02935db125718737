"""The applications' journals: one line per thing an application did, readable after a kill -9.

A line is ``<unix time> <kind> <value>``. Each line is flushed when written, so the
page cache keeps it even when the process is killed the next instant; nothing is
fsynced because the machine itself does not crash in these scenarios.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["Entry", "Journal", "read_journal"]


@dataclass(frozen=True)
class Entry:
    at: float
    kind: str
    value: str


class Journal:
    """Append-only lines of one application process (and its restarts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8")

    def write(self, kind: str, value: str = "") -> None:
        self._file.write(f"{time.time():.3f} {kind} {value}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> list[Entry]:
    """Every complete line of a journal (a line cut by a kill is dropped)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        at, kind, value = [*line.rstrip("\n").split(" ", 2), "", ""][:3]
        entries.append(Entry(float(at), kind, value))
    return entries


def count_kinds(entries: list[Entry]) -> Counter[str]:
    return Counter(e.kind for e in entries)
