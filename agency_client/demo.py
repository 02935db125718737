"""The demo exchange: a four-level agency tree sending, answering and revoking documents.

Why: ``edx demo`` is the first thing a newcomer runs; it must show, on the real
parts (a broker, the router, the tracker, signed packages, the SDK), what the bus
is for: a province directive reaching its departments, districts, communes and a
level-4 unit; a reply going up; a ministry letter to two provinces; statuses
coming back (accepted, completed, one refusal with its reason, one recipient
late); and a notice revoked by its sender and the revocation agreed to.

Everything happens through :class:`~agency_client.AgencyClient`, one per agency,
exactly as office software would use it: a dev PKI issues each agency's key and
certificate, the agencies are published to the directory, documents are signed
and sent, recipients take them from their inboxes (01 goes back on its own) and
report statuses. The scenario then waits until the tracker has recorded the final
status of every recipient, so what ``edx track`` prints afterwards is complete.

The outcome is deterministic: :data:`DIRECTIVE_PLAN` says what each recipient of
the directive answers, and :func:`expected_final_statuses` what the tracker must
end up with. Each run numbers its documents anew (``$EDX_HOME/demo-runs``) so
the demo can run again against the same bus without reusing a DocumentId.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from agency_client.client import AgencyClient
from agency_client.items import IncomingDocument
from bus import (
    Agency,
    Settings,
    certificate_fingerprints,
    create_store_engine,
    document_status,
    publish_agency,
)
from bus.errors import DatabaseError, UnknownDocumentError
from edxml import Attachment, Organization, new_document, now_in_vietnam
from edxml.errors import EdxbusError
from signing import DevPki

__all__ = [
    "AGENCIES",
    "DIRECTIVE_PLAN",
    "DemoAgency",
    "DemoDocument",
    "DemoResult",
    "DemoTimeoutError",
    "expected_final_statuses",
    "register_agencies",
    "run_demo",
]


class DemoTimeoutError(EdxbusError, TimeoutError):
    """The demo's exchange did not complete in time (the bus is not keeping up)."""

    reason_code = "demo-timeout"


@dataclass(frozen=True)
class DemoAgency:
    """One agency of the demo tree."""

    code: str
    name: str

    @property
    def organization(self) -> Organization:
        return Organization(organ_id=self.code, organ_name=self.name)


MINISTRY = DemoAgency("000.00.00.G09", "Bộ Nội vụ")
NGHE_AN = DemoAgency("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An")
HA_TINH = DemoAgency("000.00.00.H42", "Ủy ban nhân dân tỉnh Hà Tĩnh")
NGHE_AN_HOME_AFFAIRS = DemoAgency("000.00.01.H41", "Sở Nội vụ tỉnh Nghệ An")
NGHE_AN_ENVIRONMENT = DemoAgency("000.00.02.H41", "Sở Tài nguyên và Môi trường tỉnh Nghệ An")
VINH_CITY = DemoAgency("000.00.32.H41", "Ủy ban nhân dân thành phố Vinh")
NGHI_LOC = DemoAgency("000.00.33.H41", "Ủy ban nhân dân huyện Nghi Lộc")
HUNG_BINH = DemoAgency("000.01.32.H41", "Ủy ban nhân dân phường Hưng Bình")
BEN_THUY = DemoAgency("000.02.32.H41", "Ủy ban nhân dân phường Bến Thủy")
NGHI_XUAN = DemoAgency("000.01.33.H41", "Ủy ban nhân dân xã Nghi Xuân")
HUNG_BINH_CLINIC = DemoAgency("001.01.32.H41", "Trạm Y tế phường Hưng Bình")
HA_TINH_HOME_AFFAIRS = DemoAgency("000.00.01.H42", "Sở Nội vụ tỉnh Hà Tĩnh")
CAM_XUYEN = DemoAgency("000.00.24.H42", "Ủy ban nhân dân huyện Cẩm Xuyên")
CAM_BINH = DemoAgency("000.46.24.H42", "Ủy ban nhân dân xã Cẩm Bình")

#: The tree: a ministry; two provinces; departments and districts (level 2);
#: communes and wards (level 3); a ward's clinic (level 4).
AGENCIES: tuple[DemoAgency, ...] = (
    MINISTRY,
    NGHE_AN,
    NGHE_AN_HOME_AFFAIRS,
    NGHE_AN_ENVIRONMENT,
    VINH_CITY,
    NGHI_LOC,
    HUNG_BINH,
    BEN_THUY,
    NGHI_XUAN,
    HUNG_BINH_CLINIC,
    HA_TINH,
    HA_TINH_HOME_AFFAIRS,
    CAM_XUYEN,
    CAM_BINH,
)

_REFUSAL = "Văn bản không thuộc thẩm quyền giải quyết của UBND phường; đề nghị gửi UBND thành phố"
#: What each recipient of the province directive answers after the automatic 01.
#: Nghi Lộc stops at 04 (assigned): past the due date without 06, it is late.
DIRECTIVE_PLAN: Mapping[str, tuple[tuple[str, str], ...]] = {
    NGHE_AN_HOME_AFFAIRS.code: (
        ("03", "Đã vào sổ"),
        ("04", "Giao Phòng Xây dựng chính quyền"),
        ("05", "Đang xử lý"),
        ("06", "Đã triển khai"),
    ),
    NGHE_AN_ENVIRONMENT.code: (("03", "Đã vào sổ"), ("06", "Đã triển khai")),
    VINH_CITY.code: (("03", "Đã vào sổ"), ("04", "Giao Phòng Nội vụ"), ("06", "Đã triển khai")),
    NGHI_LOC.code: (("03", "Đã vào sổ"), ("04", "Giao Văn phòng HĐND-UBND huyện")),
    HUNG_BINH.code: (("03", "Đã vào sổ"), ("06", "Đã triển khai")),
    BEN_THUY.code: (("02", _REFUSAL),),
    NGHI_XUAN.code: (("03", "Đã vào sổ"), ("05", "Đang xử lý"), ("06", "Đã triển khai")),
    HUNG_BINH_CLINIC.code: (("03", "Đã vào sổ"), ("06", "Đã triển khai")),
}
_LETTER_PLAN: Mapping[str, tuple[tuple[str, str], ...]] = {
    NGHE_AN.code: (("03", "Đã vào sổ"),),
    HA_TINH.code: (("03", "Đã vào sổ"), ("04", "Giao Sở Nội vụ tham mưu")),
}
_REPLY_PLAN: Mapping[str, tuple[tuple[str, str], ...]] = {
    NGHE_AN.code: (("03", "Đã vào sổ"),),
}
_NOTICE_RECIPIENTS = (HA_TINH_HOME_AFFAIRS, CAM_XUYEN, CAM_BINH)
_NOTICE_PLAN: Mapping[str, tuple[tuple[str, str], ...]] = {
    a.code: (("03", "Đã vào sổ"),) for a in _NOTICE_RECIPIENTS
}
_REVOCATION_PLAN: Mapping[str, tuple[tuple[str, str], ...]] = {
    a.code: (("15", "Đồng ý thu hồi"),) for a in _NOTICE_RECIPIENTS
}


@dataclass(frozen=True)
class DemoDocument:
    """A document the demo sent, and the final status each recipient must reach."""

    label: str
    document_id: str
    sender: str
    subject: str
    final_statuses: Mapping[str, str]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: its documents, in the order they were sent."""

    run: int
    documents: tuple[DemoDocument, ...]
    seconds: float

    def document(self, label: str) -> DemoDocument:
        return next(d for d in self.documents if d.label == label)


def expected_final_statuses(plan: Mapping[str, Sequence[tuple[str, str]]]) -> dict[str, str]:
    """The last status each recipient of ``plan`` sends (01 when it sends none)."""
    return {code: (steps[-1][0] if steps else "01") for code, steps in plan.items()}


@dataclass
class _Recipients:
    """What every agency does with documents arriving in its inbox."""

    plans: dict[str, Mapping[str, Sequence[tuple[str, str]]]] = field(default_factory=dict)
    handled: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    known: dict[str, asyncio.Event] = field(default_factory=dict)

    def expect(self, document_id: str, plan: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        self.plans[document_id] = plan
        for code in plan:
            self.handled.setdefault((document_id, code), asyncio.Event())
        self.known.setdefault(document_id, asyncio.Event()).set()

    async def plan_for(self, document_id: str, agency: str) -> Sequence[tuple[str, str]]:
        """The plan of a document; a revocation may arrive before its sender learns its id."""
        known = self.known.setdefault(document_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10.0):  # not wait_for: see InboxReader.next
                await known.wait()
        return self.plans.get(document_id, {}).get(agency, ())

    async def wait_handled(self, document_id: str, timeout: float) -> None:  # noqa: ASYNC109
        events = [e for (doc, _), e in self.handled.items() if doc == document_id]
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see InboxReader.next
                await asyncio.gather(*(e.wait() for e in events))
        except TimeoutError as exc:
            silent = [
                c for (d, c), e in self.handled.items() if d == document_id and not e.is_set()
            ]
            raise DemoTimeoutError(
                f"document {document_id}: no answer from {', '.join(silent)} in {timeout:.0f}s"
            ) from exc

    async def serve(self, client: AgencyClient) -> None:
        """Take each document from the inbox and answer it as the plan says."""
        async for item in client.receive():
            if not isinstance(item, IncomingDocument):
                continue
            await client.acknowledge(item)  # recorded, 01 sent, offset committed
            for code, description in await self.plan_for(item.document_id, client.agency):
                await client.report(item.document_id, code, description)
            event = self.handled.get((item.document_id, client.agency))
            if event is not None:
                event.set()


def _next_run(settings: Settings) -> int:
    counter = settings.home / "demo-runs"
    try:
        previous = int(counter.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        previous = 0
    settings.home.mkdir(parents=True, exist_ok=True)
    counter.write_text(f"{previous + 1}\n", encoding="utf-8")
    return previous + 1


def _attachment(name: str, title: str, pages: int) -> Attachment:
    """A small, valid PDF standing in for the scanned original, zipped as the VXP SDK does."""
    body = "\n".join(f"({title} - trang {n}) Tj" for n in range(1, pages + 1))
    pdf = (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\n"
        + body.encode("utf-8")
        + b"\ntrailer <</Root 1 0 R>>\n%%EOF\n"
    )
    return Attachment.from_bytes(name, pdf, "application/pdf", zip=True, description=title)


async def register_agencies(settings: Settings) -> None:
    """Issue dev certificates (when missing) and publish the demo tree to the directory."""
    pki = DevPki.init(settings.resolved_pki, exist_ok=True)
    agencies = []
    for agency in AGENCIES:
        _, cert = settings.agency_key_paths(agency.code)
        if not cert.is_file():
            pki.issue(agency.code, agency.name)
        agencies.append(
            Agency.new(
                agency.code,
                agency.name,
                cert_fingerprints=certificate_fingerprints(cert),
                pattern=settings.agency_pattern,
            )
        )
    await asyncio.gather(*(publish_agency(settings, a) for a in agencies))


async def _wait_for_tracker(
    settings: Settings,
    documents: Sequence[DemoDocument],
    timeout: float,  # noqa: ASYNC109
) -> None:
    """Until the tracker shows every recipient of every document at its final status."""
    engine = create_store_engine(settings.resolved_db_url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    behind: list[str] = []
    try:
        while True:
            behind = []
            for doc in documents:
                try:
                    status = await asyncio.to_thread(document_status, engine, doc.document_id)
                except (UnknownDocumentError, DatabaseError):
                    behind.append(f"{doc.label}: not recorded yet")
                    continue
                current = {r.recipient: r.status for r in status.recipients}
                behind += [
                    f"{doc.label}: {code} at {current.get(code)} (expected {want})"
                    for code, want in doc.final_statuses.items()
                    if current.get(code) != want
                ]
            if not behind:
                return
            if loop.time() > deadline:
                raise DemoTimeoutError(
                    f"the tracker did not record the exchange in {timeout:.0f}s: "
                    + "; ".join(behind[:5])
                )
            await asyncio.sleep(0.2)
    finally:
        engine.dispose()


async def run_demo(
    settings: Settings,
    *,
    progress: Callable[[str], None] = lambda _line: None,
    timeout: float = 45.0,  # noqa: ASYNC109
    registered: bool = False,
) -> DemoResult:
    """Run the whole scenario on the bus ``settings`` points at (router and tracker running).

    ``progress`` receives one line per step, for a person watching. Raises
    :class:`DemoTimeoutError` when a step takes longer than ``timeout`` seconds.
    ``registered`` says :func:`register_agencies` already ran for this bus.
    """
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    run = _next_run(settings)
    if not registered:
        await register_agencies(settings)
    progress(f"dev PKI and directory: {len(AGENCIES)} agencies over four levels")

    recipients = _Recipients()
    today = now_in_vietnam().date()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, AgencyClient] = {}

        async def open_client(agency: DemoAgency) -> None:
            client = AgencyClient(settings, agency.code, hand_over_statuses=False)
            clients[agency.code] = await stack.enter_async_context(client)

        await asyncio.gather(*(open_client(a) for a in AGENCIES))
        progress(f"{len(clients)} agencies' office software connected to their inboxes")
        serving = [
            asyncio.create_task(recipients.serve(c), name=f"demo-{code}")
            for code, c in clients.items()
        ]
        try:
            documents = await _exchange(clients, recipients, run, today, progress, timeout)
        finally:
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)

    progress("waiting for the tracker to record every status")
    await _wait_for_tracker(settings, documents, timeout)
    return DemoResult(run, tuple(documents), loop.time() - started_at)


async def _exchange(
    clients: Mapping[str, AgencyClient],
    recipients: _Recipients,
    run: int,
    today: date,
    progress: Callable[[str], None],
    timeout: float,  # noqa: ASYNC109
) -> list[DemoDocument]:
    number = str(run)
    issued = today - timedelta(days=7)

    directive_subject = "Chỉ thị về tăng cường công tác phòng, chống thiên tai năm 2026"
    directive = new_document(
        NGHE_AN.organization,
        [a.organization for a in AGENCIES if a.code in DIRECTIVE_PLAN],
        number=number,
        notation="CT-UBND",
        subject=directive_subject,
        promulgation_date=issued,
        place="Nghệ An",
        content="Yêu cầu các sở, ngành, UBND cấp huyện, cấp xã triển khai ngay ...",
        signer_name="Nguyễn Văn Đệ",
        signer_position="Phó Chủ tịch",
        signer_competence="KT. Chủ tịch",
        due_date=today - timedelta(days=1),
        type_name="Chỉ thị",
        attachments=[
            _attachment("chi-thi.pdf", directive_subject, 3),
            _attachment("phu-luc-ke-hoach.pdf", "Phụ lục: Kế hoạch triển khai", 2),
        ],
    )
    letter_subject = "Về việc hướng dẫn sắp xếp đơn vị hành chính cấp xã"
    letter = new_document(
        MINISTRY.organization,
        [NGHE_AN.organization, HA_TINH.organization],
        number=number,
        notation="BNV-CQĐP",
        subject=letter_subject,
        promulgation_date=today,
        place="Hà Nội",
        signer_name="Trần Thị Hà",
        signer_position="Thứ trưởng",
        signer_competence="KT. Bộ trưởng",
        due_date=today + timedelta(days=10),
        attachments=[_attachment("cong-van.pdf", letter_subject, 2)],
    )
    notice_subject = "Thông báo lịch họp giao ban tháng 11"
    notice = new_document(
        HA_TINH.organization,
        [a.organization for a in _NOTICE_RECIPIENTS],
        number=number,
        notation="TB-UBND",
        subject=notice_subject,
        promulgation_date=today,
        place="Hà Tĩnh",
        signer_name="Lê Văn Sơn",
        signer_position="Chánh Văn phòng",
        attachments=[_attachment("thong-bao.pdf", notice_subject, 1)],
    )
    for package, plan in (
        (directive, DIRECTIVE_PLAN),
        (letter, _LETTER_PLAN),
        (notice, _NOTICE_PLAN),
    ):
        recipients.expect(package.document_id, plan)

    progress(f"{NGHE_AN.name} sends a directive to {len(DIRECTIVE_PLAN)} agencies (levels 2-4)")
    directive_id = await clients[NGHE_AN.code].send(directive)
    progress(f"{MINISTRY.name} sends a letter to two provinces")
    letter_id = await clients[MINISTRY.code].send(letter)
    progress(f"{HA_TINH.name} sends a notice to its department, district and commune")
    notice_id = await clients[HA_TINH.code].send(notice)

    for sender, doc_id in ((NGHE_AN, directive_id), (MINISTRY, letter_id), (HA_TINH, notice_id)):
        await clients[sender.code].wait_delivered(doc_id, timeout)
    progress("every recipient's software confirmed arrival (status 01)")
    for doc_id in (directive_id, letter_id, notice_id):
        await recipients.wait_handled(doc_id, timeout)
    progress("recipients registered, assigned and completed; Bến Thủy refused with a reason")

    reply_subject = "Báo cáo kết quả triển khai Chỉ thị về phòng, chống thiên tai"
    reply = new_document(
        VINH_CITY.organization,
        [NGHE_AN.organization],
        number=number,
        notation="BC-UBND",
        subject=reply_subject,
        place="Vinh",
        signer_name="Phan Đức Đồng",
        signer_position="Chủ tịch",
        attachments=[_attachment("bao-cao.pdf", reply_subject, 2)],
    )
    recipients.expect(reply.document_id, _REPLY_PLAN)
    progress(f"{VINH_CITY.name} reports back up to the province")
    reply_id = await clients[VINH_CITY.code].send(reply)

    progress(f"{HA_TINH.name} revokes its notice")
    revocation_id = await clients[HA_TINH.code].revoke(
        notice_id,
        "Thay đổi thời gian họp; thông báo sẽ được ban hành lại",
        signer_name="Lê Văn Sơn",
        signer_position="Chánh Văn phòng",
    )
    recipients.expect(revocation_id, _REVOCATION_PLAN)
    for doc_id in (reply_id, revocation_id):
        await recipients.wait_handled(doc_id, timeout)

    return [
        DemoDocument(
            "directive",
            directive_id,
            NGHE_AN.code,
            directive_subject,
            expected_final_statuses(DIRECTIVE_PLAN),
        ),
        DemoDocument(
            "letter",
            letter_id,
            MINISTRY.code,
            letter_subject,
            expected_final_statuses(_LETTER_PLAN),
        ),
        DemoDocument(
            "notice", notice_id, HA_TINH.code, notice_subject, expected_final_statuses(_NOTICE_PLAN)
        ),
        DemoDocument(
            "reply", reply_id, VINH_CITY.code, reply_subject, expected_final_statuses(_REPLY_PLAN)
        ),
        DemoDocument(
            "revocation",
            revocation_id,
            HA_TINH.code,
            f"Thu hồi: {notice_subject}",
            expected_final_statuses(_REVOCATION_PLAN),
        ),
    ]
