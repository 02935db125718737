"""Lifecycle events for tracker tests, built the way the router writes them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bus.events import LIFECYCLE_EVENT
from bus.store import IncomingRecord

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EVENTS_TOPIC = "edx.events"


def event(
    kind: str,
    document_id: str,
    actor: str,
    *,
    at: datetime = T0,
    recipient: str | None = None,
    package_kind: str = "DOCUMENT",
    status_code: str | None = None,
    description: str | None = None,
    recipients: Sequence[str] = (),
    due_date: date | None = None,
    subject: str | None = None,
    reason_code: str | None = None,
    source_offset: int = 0,
) -> dict[str, Any]:
    """One lifecycle event dict; its event_id is deterministic, like the router's."""
    basis = f"{kind}|{document_id}|{actor}|{recipient}|{status_code}|{package_kind}"
    return {
        "event_id": hashlib.sha256(basis.encode()).hexdigest()[:32],
        "kind": kind,
        "occurred_at": at,
        "document_id": document_id,
        "actor": actor,
        "recipient": recipient,
        "package_kind": package_kind,
        "business_type": "new" if package_kind == "DOCUMENT" else None,
        "target_document_id": None,
        "status_code": status_code,
        "description": description,
        "reason_code": reason_code,
        "subject": subject,
        "code_number": "12" if package_kind == "DOCUMENT" else None,
        "code_notation": "UBND-VP" if package_kind == "DOCUMENT" else None,
        "due_date": due_date,
        "recipients": list(recipients),
        "content_digest": hashlib.sha256(basis.encode() + b"bytes").hexdigest(),
        "source_topic": "edx.submit",
        "source_partition": 0,
        "source_offset": source_offset,
    }


@dataclass
class EventLog:
    """A growing ``edx.events`` partition: events become records with offsets."""

    topic: str = EVENTS_TOPIC
    partition: int = 0
    records: list[IncomingRecord] = field(default_factory=list)

    def add(self, *events: dict[str, Any]) -> list[IncomingRecord]:
        added = []
        for e in events:
            added.append(self.add_raw(LIFECYCLE_EVENT.encode(e), e["document_id"].encode()))
        return added

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


def province_directive() -> list[dict[str, Any]]:
    """The directive to 26 recipients at levels 2-4, and their answers.

    - every recipient is delivered the package and sends 01 (arrived), except the
      last two level-4 communes, which never answer (delivered, no status);
    - departments 1-4, district 20 and communes 000.01.20 .. 000.03.20 accept (03);
      of those, departments 1-3 and commune 000.01.20 complete (06);
    - department 8 and commune 001.01.20 refuse (02).
    """
    events = [
        event(
            "SUBMITTED",
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
            event("DELIVERED", DIRECTIVE, PROVINCE, recipient=recipient, at=at, due_date=DUE)
        )

    def status(agency: str, code: str, minutes: int, description: str = "") -> None:
        events.append(
            event(
                "STATUS",
                DIRECTIVE,
                agency,
                recipient=PROVINCE,
                package_kind="STATUS",
                status_code=code,
                description=description or None,
                at=T0 + timedelta(minutes=minutes),
            )
        )

    for recipient in RECIPIENTS[:-2]:
        status(recipient, "01", 5)
    for recipient in [*DEPARTMENTS[:4], DISTRICTS[0], *COMMUNES_L3[:3]]:
        status(recipient, "03", 60)
    for recipient in [*DEPARTMENTS[:3], COMMUNES_L3[0]]:
        status(recipient, "06", 60 * 24 * 3)
    status(DEPARTMENTS[7], "02", 90, "Không thuộc thẩm quyền")
    status(COMMUNES_L4[0], "02", 90, "Gửi nhầm")
    return events
