"""What the applications' journals say happened: sent, lost, handed over twice.

- **sent**: documents whose ``send()`` returned (they are in the sender's outbox).
- **lost**: sent documents that some recipient's application never got.
- **twice**: hand-overs of a document the application had already acknowledged.
  A second hand-over after a kill that came between ``got`` and ``ack`` is the
  application's own unacknowledged item: counted as **excused**, not as twice.
- **unknown**: documents handed over that the sender never meant to send (a
  forged package that got through).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.chaos.journal import Entry

__all__ = ["Deliveries", "count_deliveries"]


@dataclass(frozen=True)
class Deliveries:
    sent: int
    lost: int
    twice: int
    excused: int
    unknown: int
    missing: tuple[tuple[str, str], ...]  # (recipient, document id), the first few


def count_deliveries(
    sender: Sequence[Entry], receivers: Mapping[str, Sequence[Entry]]
) -> Deliveries:
    sent = [e.value for e in sender if e.kind == "sent"]
    meant = {e.value for e in sender if e.kind in ("sent", "intent")} | set(sent)
    twice = excused = 0
    unknown: set[str] = set()
    missing: list[tuple[str, str]] = []
    lost: set[str] = set()
    for recipient, entries in receivers.items():
        # Per document, one flag per hand-over: was it acknowledged?
        handovers: dict[str, list[bool]] = {}
        for entry in entries:
            if entry.kind == "got":
                handovers.setdefault(entry.value, []).append(False)
            elif entry.kind == "ack" and entry.value in handovers:
                handovers[entry.value][-1] = True
        for document_id, acked in handovers.items():
            if document_id not in meant:
                unknown.add(document_id)
            for previous in acked[:-1]:
                if previous:
                    twice += 1
                else:
                    excused += 1
        for document_id in sent:
            if document_id not in handovers:
                lost.add(document_id)
                missing.append((recipient, document_id))
    return Deliveries(
        sent=len(sent),
        lost=len(lost),
        twice=twice,
        excused=excused,
        unknown=len(unknown),
        missing=tuple(missing[:5]),
    )
