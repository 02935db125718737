"""The demo exchange played on a running bus, exactly as office software would play it.

Why: ``edx demo`` is the first thing a newcomer runs; it must show, on the real
parts (a broker, the router, the tracker, signed packages, the SDK), what the bus
is for. Everything happens through :class:`~agency_client.AgencyClient`, one per
agency: a dev PKI issues each agency's key and certificate, the agencies are
published to the directory, documents are signed and sent, recipients take them
from their inboxes (01 goes back on its own) and report the statuses the
scenario gives them. The demo then waits until the tracker has recorded the
final status of every recipient, so what ``edx track`` prints afterwards is
complete.

The outcome is deterministic: the scenario (``scenario.toml``) says what each
recipient answers, hence what the tracker must end up with. Each run numbers its
documents anew (``$EDX_HOME/demo-runs``) so the demo can run again against the
same bus without reusing a DocumentId.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from agency_client import AgencyClient, IncomingDocument
from bus import (
    Agency,
    BusError,
    Settings,
    certificate_fingerprints,
    create_store_engine,
    document_status,
    publish_agency,
)
from demo.errors import DemoTimeoutError
from demo.scenario import Answer, Scenario, ScenarioDocument, load_scenario
from edxml import Attachment, DocumentPackage, new_document, now_in_vietnam
from signing import DevPki

__all__ = ["DemoDocument", "DemoResult", "register_agencies", "run_demo"]

#: How long a recipient waits to learn the plan of a document that arrived before
#: its sender knew its DocumentId (a revocation).
_PLAN_WAIT = 10.0


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


@dataclass
class _Recipients:
    """What every agency does with documents arriving in its inbox."""

    plans: dict[str, Mapping[str, Sequence[Answer]]] = field(default_factory=dict)
    handled: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    known: dict[str, asyncio.Event] = field(default_factory=dict)

    def expect(self, document_id: str, plan: Mapping[str, Sequence[Answer]]) -> None:
        self.plans[document_id] = plan
        for code in plan:
            self.handled.setdefault((document_id, code), asyncio.Event())
        self.known.setdefault(document_id, asyncio.Event()).set()

    async def plan_for(self, document_id: str, agency: str) -> Sequence[Answer]:
        """The plan of a document; a revocation may arrive before its sender learns its id."""
        known = self.known.setdefault(document_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_PLAN_WAIT):  # not wait_for: see InboxReader.next
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


def _pdf(name: str, title: str, pages: int) -> Attachment:
    """A small, valid PDF standing in for the scanned original, zipped as the VXP SDK does."""
    body = "\n".join(f"({title} - trang {n}) Tj" for n in range(1, pages + 1))
    pdf = (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\n"
        + body.encode("utf-8")
        + b"\ntrailer <</Root 1 0 R>>\n%%EOF\n"
    )
    return Attachment.from_bytes(name, pdf, "application/pdf", zip=True, description=title)


async def register_agencies(settings: Settings, scenario: Scenario | None = None) -> None:
    """Issue dev certificates (when missing) and publish the demo tree to the directory."""
    scenario = scenario or load_scenario()
    pki = DevPki.init(settings.resolved_pki, exist_ok=True)
    agencies = []
    for agency in scenario.agencies:
        _, cert = settings.agency_key_paths(agency.code)
        if not cert.is_file():
            pki.issue(agency.code, agency.name)
        agencies.append(
            Agency.new(
                agency.code,
                agency.name,
                cert_fingerprints=certificate_fingerprints(cert),
                pattern=settings.packages.agency_pattern,
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
                except BusError:  # not recorded yet, or no tracker tables yet
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
    scenario: Scenario | None = None,
) -> DemoResult:
    """Play ``scenario`` (by default the shipped one) on the bus ``settings`` points at
    (router and tracker running).

    ``progress`` receives one line per step, for a person watching. Raises
    :class:`~demo.DemoTimeoutError` when a step takes longer than ``timeout``
    seconds. ``registered`` says :func:`register_agencies` already ran for this bus.
    """
    scenario = scenario or load_scenario()
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    run = _next_run(settings)
    if not registered:
        await register_agencies(settings, scenario)
    progress(f"dev PKI and directory: {len(scenario.agencies)} agencies over four levels")

    recipients = _Recipients()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, AgencyClient] = {}

        async def open_client(code: str) -> None:
            client = AgencyClient(settings, code, hand_over_statuses=False)
            clients[code] = await stack.enter_async_context(client)

        await asyncio.gather(*(open_client(a.code) for a in scenario.agencies))
        progress(f"{len(clients)} agencies' office software connected to their inboxes")
        serving = [
            asyncio.create_task(recipients.serve(c), name=f"demo-{code}")
            for code, c in clients.items()
        ]
        try:
            play = _Play(scenario, clients, recipients, run, now_in_vietnam().date(), timeout)
            documents = await play.all_rounds(progress)
        finally:
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)

    progress("waiting for the tracker to record every status")
    await _wait_for_tracker(settings, documents, timeout)
    return DemoResult(run, tuple(documents), loop.time() - started_at)


@dataclass
class _Play:
    """The rounds of the scenario, played through the agencies' clients."""

    scenario: Scenario
    clients: Mapping[str, AgencyClient]
    recipients: _Recipients
    run: int
    today: date
    timeout: float
    sent: dict[str, str] = field(default_factory=dict)  # label -> DocumentId

    def _package(self, doc: ScenarioDocument) -> DocumentPackage:
        return new_document(
            self.scenario.agency(doc.sender).organization,
            [self.scenario.agency(code).organization for code in doc.recipients],
            number=str(self.run),
            notation=doc.notation,
            subject=doc.subject,
            promulgation_date=doc.issued(self.today),
            place=doc.place,
            content=doc.content,
            signer_name=doc.signer.name,
            signer_position=doc.signer.position,
            signer_competence=doc.signer.competence,
            due_date=doc.due(self.today),
            type_name=doc.type_name,
            attachments=[_pdf(a.name, a.title, a.pages) for a in doc.attachments],
        )

    async def _send(self, doc: ScenarioDocument, package: DocumentPackage | None) -> str:
        client = self.clients[doc.sender]
        if package is not None:
            return await client.send(package)
        assert doc.revokes is not None
        document_id = await client.revoke(
            self.sent[doc.revokes],
            doc.content or "",
            signer_name=doc.signer.name,
            signer_position=doc.signer.position,
        )
        self.recipients.expect(document_id, doc.answers)  # its id is known only now
        return document_id

    async def all_rounds(self, progress: Callable[[str], None]) -> list[DemoDocument]:
        for round_ in self.scenario.rounds:
            docs = [self.scenario.document(label) for label in round_.documents]
            packages = {d.label: None if d.revokes else self._package(d) for d in docs}
            for doc in docs:  # known before any is sent: an answer may come at once
                package = packages[doc.label]
                if package is not None:
                    self.recipients.expect(package.document_id, doc.answers)
            for doc in docs:
                sender = self.scenario.agency(doc.sender).name
                progress(doc.announce.format(sender=sender, count=len(doc.recipients)))
                self.sent[doc.label] = await self._send(doc, packages[doc.label])
            if round_.delivered is not None:
                for doc in docs:
                    await self.clients[doc.sender].wait_delivered(
                        self.sent[doc.label], self.timeout
                    )
                progress(round_.delivered)
            for doc in docs:
                await self.recipients.wait_handled(self.sent[doc.label], self.timeout)
            if round_.answered is not None:
                progress(round_.answered)
        return [
            DemoDocument(label, self.sent[label], doc.sender, doc.subject, doc.final_statuses)
            for label, doc in self.scenario.documents.items()
        ]
