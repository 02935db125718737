"""A file copy of the agency directory, for brokers that forget it.

Why: the embedded broker (Tansu, memory storage) loses every topic when it
stops, the compacted ``edx.agencies`` included, and without the directory the
router refuses every package. ``edx up`` therefore keeps a snapshot of the
directory under ``$EDX_HOME`` while it runs and publishes it again when it
starts, so a restarted embedded bus knows the agencies registered before.
Production Kafka keeps ``edx.agencies`` itself; nothing there uses this.

The snapshot is JSON (one ``AgencyRecord`` per agency, the Avro record's
fields), written atomically, and read back with the same field names.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from bus.directory.agencies import Agency, AgencyDirectory, publish_agency
from bus.errors import ConfigError
from bus.settings import Settings

__all__ = ["restore_directory_snapshot", "save_directory_snapshot"]


async def save_directory_snapshot(settings: Settings, path: Path) -> int:
    """Write the directory as it is now to ``path``; how many agencies it holds.

    An empty directory does not overwrite an existing snapshot: a broker that
    just restarted is empty too, and its emptiness is not news.
    """
    directory = await AgencyDirectory.load(settings)
    agencies = directory.all()
    if not agencies:
        return 0
    records = [_jsonable(agency.to_record()) for agency in agencies]
    await asyncio.to_thread(_write, path, records)
    return len(records)


async def restore_directory_snapshot(settings: Settings, path: Path) -> int:
    """Publish every agency of the snapshot at ``path`` (if any); how many."""
    agencies = await asyncio.to_thread(_read, path)
    await asyncio.gather(*(publish_agency(settings, agency) for agency in agencies))
    return len(agencies)


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, path)


def _read(path: Path) -> list[Agency]:
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        return [Agency.from_record(_from_json(record)) for record in records]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the directory snapshot {path} cannot be read: {exc}") from exc


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in record.items()
    }


def _from_json(record: dict[str, Any]) -> dict[str, Any]:
    restored = dict(record)
    restored["updated_at"] = datetime.fromisoformat(str(record["updated_at"]))
    return restored
