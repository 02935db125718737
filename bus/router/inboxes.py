"""What the router knows of the recipients' inboxes: which topics exist, which copies are there.

A retry must not deliver a copy twice, yet a broker that lost its data (the
embedded Tansu keeps memory only) no longer holds the copies the acceptance
store records, and may meanwhile hold other records at the same offsets. So a
recorded copy counts as present only when the record at its recorded offset
carries the package's digest (read back with a consumer of its own), or when
this router saw the broker acknowledge it since it last joined its group
(:class:`CopyMemory`). The sender's retry is then what brings a lost copy back.

Inbox topics are created here too, once per router lifetime, before anything
is written to or read from them.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Collection

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bus.acceptance import Accepted
from bus.errors import BusError
from bus.kafka import make_consumer, partition_ends, translate_errors
from bus.records import Header, decode_headers
from bus.settings import Settings
from bus.topics import ensure_inbox

__all__ = ["CopyMemory", "Inboxes"]


class CopyMemory:
    """Inbox copies this router knows to be in place since it last joined its group.

    Written when the broker acknowledges a copy, or when a copy is read back at
    its recorded offset with the right digest. A broker that loses its data also
    loses the group, so every (re)join forgets everything (:meth:`forget`), and
    what is remembered then is always checked again against the log. Bounded:
    the oldest entries go first.
    """

    def __init__(self, limit: int = 50_000) -> None:  # ~15 MB at most
        self.limit = limit
        self._known: OrderedDict[tuple[str, int, int], str] = OrderedDict()

    def remember(self, topic: str, partition: int, offset: int, digest: str) -> None:
        """A copy with ``digest`` is at this offset."""
        self._known[(topic, partition, offset)] = digest
        self._known.move_to_end((topic, partition, offset))
        while len(self._known) > self.limit:
            self._known.popitem(last=False)

    def holds(self, topic: str, partition: int, offset: int, digest: str) -> bool:
        """Whether the copy with ``digest`` is known to be at this offset."""
        return self._known.get((topic, partition, offset)) == digest

    def forget(self) -> None:
        """Forget every copy (the group was joined again: the broker may have changed)."""
        self._known.clear()

    def __len__(self) -> int:
        return len(self._known)


class Inboxes:
    """The recipients' inbox topics, as one router sees them: created, and holding what.

    :meth:`start` opens the consumer that reads copies back; :meth:`stop` closes it.
    """

    def __init__(self, settings: Settings, copies: CopyMemory | None = None) -> None:
        self.settings = settings
        self.copies = copies if copies is not None else CopyMemory()
        self._created: set[str] = set()
        self._probe: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Open the consumer that reads recorded copies back (assigned per read)."""
        probe = make_consumer(self.settings, group_id=None, max_poll_records=1)
        self._probe = probe
        with translate_errors("starting the router's inbox reader"):
            await probe.start()

    async def stop(self) -> None:
        """Close the reader. Idempotent."""
        probe, self._probe = self._probe, None
        if probe is not None:
            with contextlib.suppress(Exception):  # closing: nothing left to do about it
                await probe.stop()

    async def ensure(self, agency: str) -> None:
        """Create ``agency``'s inbox once per router lifetime before it is used.

        Registration creates inboxes, but a directory written by other tools may
        not have, and a producer would wait for a missing topic instead of failing.
        """
        if agency not in self._created:
            await ensure_inbox(self.settings, agency)
            self._created.add(agency)

    def remember(self, recipient: str, partition: int, offset: int, digest: str) -> None:
        """The broker acknowledged a copy with ``digest`` at this place of the inbox."""
        self.copies.remember(self.settings.topics.inbox(recipient), partition, offset, digest)

    def forget(self) -> None:
        """Vouch for no copy any more: the group was joined again, or the broker failed."""
        self.copies.forget()

    async def in_place(self, accepted: Accepted) -> bool:
        """Whether every recorded copy of ``accepted`` is still where it was recorded."""
        return not await self.lost_copies(accepted)

    async def lost_copies(self, accepted: Accepted, skip: Collection[str] = ()) -> list[str]:
        """Recipients (sorted) whose recorded copy is not, or no longer, in their inbox.

        ``skip``: recipients whose copy is being written anyway.
        """
        lost = []
        for recipient in accepted.delivered:
            if recipient in skip:
                continue
            position = accepted.positions.get(recipient)
            if position is None:
                # Recorded without where it landed: nothing to check it against,
                # so it is written again (receivers keep one copy per DocumentId).
                lost.append(recipient)
                continue
            await self.ensure(recipient)
            tp = TopicPartition(self.settings.topics.inbox(recipient), position[0])
            if not await self._copy_present(tp, position[1], accepted.digest):
                lost.append(recipient)
        return sorted(lost)

    async def _copy_present(self, tp: TopicPartition, offset: int, digest: str) -> bool:
        """Whether the record at ``offset`` of ``tp`` is the package with ``digest``."""
        if self.copies.holds(tp.topic, tp.partition, offset, digest):
            return True
        probe = self._probe
        if probe is None:
            raise BusError("the router is not started")
        with translate_errors("reading an inbox copy"):
            probe.assign([tp])
            ends = await probe.end_offsets([tp])
            if ends.get(tp, 0) <= offset:
                # Tansu lists the start of the last batch plus one: ask for the true end.
                ends = await partition_ends(probe, [tp])
                if ends.get(tp, 0) <= offset:
                    return False
            probe.seek(tp, offset)
            batch = await probe.getmany(tp, timeout_ms=5000, max_records=1)
        for record in batch.get(tp, []):
            if record.offset == offset:
                present = decode_headers(record.headers).get(Header.DIGEST) == digest
                if present:
                    self.copies.remember(tp.topic, tp.partition, offset, digest)
                return present
        return False  # not readable now: writing it again is the safe side (receivers dedup)
