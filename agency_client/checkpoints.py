"""The agency's watch on the transparency log: every new checkpoint must extend the last.

An agency cannot audit the operator's database, but it can remember the latest
checkpoint it verified and insist that each newer one is consistent with it (RFC
9162 §2.1.4). A log whose history was rewritten, or that shows two agencies two
different histories (a fork), fails that check at the agency itself:
:class:`LogRewrittenError` is raised and logged.

The watcher reads the compacted checkpoint topic (``EDX_LOG_TOPIC``, default
``edx.checkpoints``). Each record's value is the signed note; its headers carry
the RFC 3161 token and a consistency proof from the log's previous checkpoint.
When the watcher's last checkpoint is older than that (it was offline while the
topic was compacted), it asks ``proofs`` (a callable, e.g. one that reads the log's
database or asks an operator's endpoint); without one it keeps its last checkpoint
and logs that the gap is not yet proven. The last verified checkpoint is kept in
``state_path`` (when given), so a restart still compares with what was seen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.structs import TopicPartition

from bus import (
    CONSISTENCY_FROM_HEADER,
    CONSISTENCY_PROOF_HEADER,
    LogSettings,
    Settings,
    make_consumer,
    translate_errors,
)
from edxml.errors import ClientError
from signing import (
    Checkpoint,
    ConsistencyProofError,
    NoteVerifier,
    open_checkpoint,
    verify_consistency,
)

__all__ = [
    "CheckpointWatcher",
    "ConsistencySource",
    "LogRewrittenError",
    "WatchedCheckpoint",
]

log = logging.getLogger(__name__)

#: ``proofs(old_size, new_size)``: the consistency proof between two tree sizes.
ConsistencySource = Callable[[int, int], Awaitable[Sequence[bytes]]]


class LogRewrittenError(ClientError):
    """A new checkpoint does not extend the last verified one: the log was rewritten or forked.

    Carries both checkpoints (``.old``, ``.new``) so an operator can show them to
    the log's operator and to other agencies.
    """

    reason_code = "log-rewritten"

    def __init__(self, old: Checkpoint, new: Checkpoint, detail: str) -> None:
        super().__init__(
            f"the log {new.origin} was rewritten or forked: its checkpoint of {new.size} "
            f"leaves does not extend the one of {old.size} leaves seen before ({detail})"
        )
        self.old = old
        self.new = new


@dataclass(frozen=True)
class WatchedCheckpoint:
    """The latest checkpoint the watcher verified, with its signed note."""

    checkpoint: Checkpoint
    note: bytes


def _split_proof(raw: bytes) -> list[bytes]:
    if len(raw) % 32:
        raise ConsistencyProofError("a consistency proof header is not whole 32-byte hashes")
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


class CheckpointWatcher:
    """Keeps the latest verified checkpoint of one log and checks every newer one against it."""

    def __init__(
        self,
        verifier: NoteVerifier,
        *,
        proofs: ConsistencySource | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.verifier = verifier
        self._proofs = proofs
        self._state_path = state_path
        self._latest: WatchedCheckpoint | None = None
        if state_path is not None and state_path.exists():
            note = state_path.read_bytes()
            self._latest = WatchedCheckpoint(open_checkpoint(note, [verifier]), note)

    @property
    def latest(self) -> WatchedCheckpoint | None:
        """The latest verified checkpoint (``None`` before the first)."""
        return self._latest

    async def observe(
        self, note: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> WatchedCheckpoint | None:
        """Check one published checkpoint; the new latest if it advanced, else ``None``.

        Raises :class:`LogRewrittenError` when it cannot extend the last verified one,
        and the signing errors (``NoteSignatureError``...) when its note is not the log's.
        """
        new = open_checkpoint(note, [self.verifier])
        old = self._latest
        if old is None:
            return self._accept(new, note)
        before = old.checkpoint
        if new.size < before.size:
            return None  # an older checkpoint read again: what it says was checked then
        if new.size == before.size:
            if new.root_hash != before.root_hash:
                error = LogRewrittenError(before, new, "two different roots for one size")
                log.error("%s", error)
                raise error
            return None
        proof = await self._proof_for(before, new, dict(headers))
        if proof is None:
            log.warning(
                "checkpoint of %d leaves not yet proven to extend the one of %d leaves",
                new.size,
                before.size,
            )
            return None
        try:
            verify_consistency(before.size, new.size, before.root_hash, new.root_hash, proof)
        except ConsistencyProofError as failure:
            error = LogRewrittenError(before, new, str(failure))
            log.error("%s", error)
            raise error from failure
        return self._accept(new, note)

    async def _proof_for(
        self, old: Checkpoint, new: Checkpoint, headers: dict[str, bytes]
    ) -> Sequence[bytes] | None:
        start = headers.get(CONSISTENCY_FROM_HEADER)
        if start is not None and start.decode() == str(old.size):
            return _split_proof(headers.get(CONSISTENCY_PROOF_HEADER, b""))
        if self._proofs is not None:
            return await self._proofs(old.size, new.size)
        return None

    def _accept(self, checkpoint: Checkpoint, note: bytes) -> WatchedCheckpoint:
        self._latest = WatchedCheckpoint(checkpoint, note)
        if self._state_path is not None:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
            partial = self._state_path.with_suffix(".partial")
            partial.write_bytes(note)
            partial.replace(self._state_path)
        return self._latest

    async def catch_up(self, settings: Settings, log_settings: LogSettings | None = None) -> int:
        """Read the checkpoint topic from its start to its current end; how many advanced.

        Each record goes through :meth:`observe` in order, so a fork anywhere in what
        the topic holds raises.
        """
        chosen = log_settings or LogSettings.from_env(settings)
        consumer = make_consumer(settings)
        advanced = 0
        with translate_errors("reading the checkpoint topic"):
            await consumer.start()
        try:
            with translate_errors("reading the checkpoint topic"):
                await consumer.topics()  # refreshes metadata, so the partitions are known
                partitions = [
                    TopicPartition(chosen.topic, p)
                    for p in sorted(consumer.partitions_for_topic(chosen.topic) or ())
                ]
                if not partitions:
                    return 0
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                ends = await consumer.end_offsets(partitions)
            while await _behind(consumer, ends):
                with translate_errors("reading the checkpoint topic"):
                    batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if await self.observe(record.value or b"", record.headers or ()):
                            advanced += 1
        finally:
            await consumer.stop()
        return advanced


async def _behind(consumer: Any, ends: dict[TopicPartition, int]) -> bool:
    """Whether any partition's position is still before the end it had when we started."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
