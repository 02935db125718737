"""Rendering of command results: readable text tables or JSON (``--json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click

__all__ = ["echo_json", "table", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Turn dates, enums, paths, bytes and dataclass-like values into JSON values."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    """Print one JSON document, UTF-8 text kept as is (Vietnamese stays readable)."""
    click.echo(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(to_jsonable(c)) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
