"""Avro records of the bus: lifecycle events (``edx.events``) and agency records
(``edx.agencies``).

Records use Avro *single-object encoding* (the Avro specification's framing:
``C3 01``, the writer schema's 8-byte CRC-64-AVRO fingerprint, then the binary
body), so every record names the schema it was written with. Every version of a
schema ships under ``bus/schemas/NAME.vN.avsc``; a reader decodes with the writer
schema its fingerprint names and resolves into the newest version, so records
written years ago stay readable.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from bus.errors import EventDecodeError

__all__ = [
    "AGENCY_RECORD",
    "LIFECYCLE_EVENT",
    "AvroCodec",
    "schema_fingerprint",
]

_MAGIC = b"\xc3\x01"
_HEADER = len(_MAGIC) + 8


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a parsed schema, little-endian."""
    hex_digest = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
    return struct.pack("<Q", int(hex_digest, 16))


@dataclass(frozen=True)
class _Version:
    number: int
    schema: dict[str, Any]
    fingerprint: bytes


class AvroCodec:
    """Encodes with the newest version of one schema family, decodes any shipped version."""

    def __init__(self, family: str) -> None:
        self.family = family
        versions = _load_versions(family)
        if not versions:
            raise EventDecodeError(f"no schema files for {family!r} in bus/schemas")
        self._by_fingerprint = {v.fingerprint: v for v in versions}
        self._latest = max(versions, key=lambda v: v.number)

    @property
    def schema(self) -> dict[str, Any]:
        """The newest (writer) schema."""
        return self._latest.schema

    @property
    def fingerprint(self) -> bytes:
        """The fingerprint this codec writes."""
        return self._latest.fingerprint

    def versions(self) -> dict[int, dict[str, Any]]:
        """Every shipped version, by number."""
        return {v.number: v.schema for v in self._by_fingerprint.values()}

    def encode(self, record: dict[str, Any], version: int | None = None) -> bytes:
        """One record in single-object encoding, written with ``version`` (newest by default)."""
        chosen = self._latest
        if version is not None:
            chosen = next(v for v in self._by_fingerprint.values() if v.number == version)
        out = io.BytesIO()
        out.write(_MAGIC)
        out.write(chosen.fingerprint)
        fastavro.schemaless_writer(out, chosen.schema, dict(record))
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """A record of any shipped version, resolved into the newest schema."""
        if len(data) < _HEADER or data[:2] != _MAGIC:
            raise EventDecodeError(f"{self.family}: not an Avro single-object record")
        writer = self._by_fingerprint.get(data[2:_HEADER])
        if writer is None:
            raise EventDecodeError(
                f"{self.family}: unknown writer schema fingerprint {data[2:_HEADER].hex()}"
            )
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER:]), writer.schema, self._latest.schema
            )
        except Exception as exc:  # fastavro raises plain exceptions on bad bodies
            raise EventDecodeError(f"{self.family}: record does not decode: {exc}") from exc
        if not isinstance(record, dict):
            raise EventDecodeError(f"{self.family}: record is not an Avro record")
        return record


@cache
def _load_versions(family: str) -> tuple[_Version, ...]:
    found = []
    for entry in resources.files("bus").joinpath("schemas").iterdir():
        name = entry.name
        if not (name.startswith(f"{family}.v") and name.endswith(".avsc")):
            continue
        number = int(name.removeprefix(f"{family}.v").removesuffix(".avsc"))
        parsed = parse_schema(json.loads(entry.read_text(encoding="utf-8")))
        if not isinstance(parsed, dict):
            raise EventDecodeError(f"schema file {name} is not an Avro record schema")
        found.append(_Version(number, parsed, schema_fingerprint(parsed)))
    return tuple(sorted(found, key=lambda v: v.number))


#: Lifecycle events on ``edx.events`` (see ``schemas/lifecycle_event.v*.avsc``).
LIFECYCLE_EVENT = AvroCodec("lifecycle_event")
#: Agency directory records on ``edx.agencies``.
AGENCY_RECORD = AvroCodec("agency_record")
