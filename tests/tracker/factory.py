"""Lifecycle events for tracker tests, built the way the router writes them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bus.lifecycle import (
    EventKind,
    LifecycleEvent,
    PackageKind,
    Source,
    encode_event,
    event_id,
)
from bus.store import IncomingRecord
from edxml import BusinessDocType, StatusCode

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EVENTS_TOPIC = "edx.events"


def event(
    kind: EventKind,
    document_id: str,
    actor: str,
    *,
    at: datetime = T0,
    recipient: str | None = None,
    status_code: StatusCode | None = None,
    description: str | None = None,
    recipients: Sequence[str] = (),
    due_date: date | None = None,
    subject: str | None = None,
    reason_code: str | None = None,
    source_offset: int = 0,
) -> LifecycleEvent:
    """One lifecycle event with the fields the router gives an event of ``kind``.

    Its id is :func:`bus.lifecycle.event_id` over the step the router names
    (``STATUS:<code>``, ``REJECTED:<reason>``, else the kind) and a stand-in content
    digest, one per (kind, document, actor, recipient, code) like a package's bytes.
    """
    is_status = kind is EventKind.STATUS
    basis = f"{kind}|{document_id}|{actor}|{recipient}|{status_code}"
    digest = hashlib.sha256(basis.encode() + b"bytes").hexdigest()
    if is_status:
        step = f"{kind.value}:{status_code}"
    elif kind is EventKind.REJECTED:
        step = f"{kind.value}:{reason_code}"
    else:
        step = kind.value
    return LifecycleEvent(
        event_id=event_id(document_id, recipient, step, digest),
        kind=kind,
        occurred_at=at,
        document_id=document_id,
        actor=actor,
        package_kind=PackageKind.STATUS if is_status else PackageKind.DOCUMENT,
        content_digest=digest,
        source=Source("edx.submit", 0, source_offset),
        recipient=recipient,
        business_type=None if is_status else BusinessDocType.NEW.label,
        status_code=status_code,
        description=description,
        reason_code=reason_code,
        subject=subject,
        code_number=None if is_status else "12",
        code_notation=None if is_status else "UBND-VP",
        due_date=due_date,
        recipients=tuple(recipients),
    )


@dataclass
class EventLog:
    """A growing ``edx.events`` partition: events become records with offsets."""

    topic: str = EVENTS_TOPIC
    partition: int = 0
    records: list[IncomingRecord] = field(default_factory=list)

    def add(self, *events: LifecycleEvent) -> list[IncomingRecord]:
        return [self.add_raw(encode_event(e), e.document_id.encode()) for e in events]

    def add_raw(self, value: bytes | None, key: bytes = b"?") -> IncomingRecord:
        record = IncomingRecord(self.topic, self.partition, len(self.records), key, value)
        self.records.append(record)
        return record


# --- the province scenario -------------------------------------------------------

PROVINCE = "000.00.00.H41"
DEPARTMENTS = [f"000.00.{n:02d}.H41" for n in range(1, 9)]  # 8 departments, level 2
DISTRICTS = ["000.00.20.H41", "000.00.21.H41", "000.00.22.H41"]  # level 2 too
COMMUNES_L3 = [f"000.{n:02d}.20.H41" for n in range(1, 6)] + [
    f"000.{n:02d}.21.H41" for n in range(1, 5)
]  # 9 level-3 units under districts 20 and 21
COMMUNES_L4 = [f"{n:03d}.01.20.H41" for n in range(1, 7)]  # 6 level-4 units under 000.01.20
RECIPIENTS = DEPARTMENTS + DISTRICTS + COMMUNES_L3 + COMMUNES_L4  # 26 recipients
DIRECTIVE = f"{PROVINCE},2026/03/02,12/UBND-VP"
DUE = date(2026, 3, 10)
TODAY = date(2026, 3, 20)  # after the due date: unfinished, unrefused ones are late


def province_directive() -> list[LifecycleEvent]:
    """The directive to 26 recipients at levels 2-4, and their answers.

    - every recipient is delivered the package and sends 01 (arrived), except the
      last two level-4 communes, which never answer (delivered, no status);
    - departments 1-4, district 20 and communes 000.01.20 .. 000.03.20 accept (03);
      of those, departments 1-3 and commune 000.01.20 complete (06);
    - department 8 and commune 001.01.20 refuse (02).
    """
    events = [
        event(
            EventKind.SUBMITTED,
            DIRECTIVE,
            PROVINCE,
            recipients=RECIPIENTS,
            due_date=DUE,
            subject="Chỉ thị phòng chống lụt bão",
        )
    ]
    at = T0
    for recipient in RECIPIENTS:
        at += timedelta(seconds=1)
        events.append(
            event(
                EventKind.DELIVERED, DIRECTIVE, PROVINCE, recipient=recipient, at=at, due_date=DUE
            )
        )

    def status(agency: str, code: StatusCode, minutes: int, description: str = "") -> None:
        events.append(
            event(
                EventKind.STATUS,
                DIRECTIVE,
                agency,
                recipient=PROVINCE,
                status_code=code,
                description=description or None,
                at=T0 + timedelta(minutes=minutes),
            )
        )

    for recipient in RECIPIENTS[:-2]:
        status(recipient, StatusCode.ARRIVED, 5)
    for recipient in [*DEPARTMENTS[:4], DISTRICTS[0], *COMMUNES_L3[:3]]:
        status(recipient, StatusCode.ACCEPTED, 60)
    for recipient in [*DEPARTMENTS[:3], COMMUNES_L3[0]]:
        status(recipient, StatusCode.COMPLETED, 60 * 24 * 3)
    status(DEPARTMENTS[7], StatusCode.REFUSED, 90, "Không thuộc thẩm quyền")
    status(COMMUNES_L4[0], StatusCode.REFUSED, 90, "Gửi nhầm")
    return events
