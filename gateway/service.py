"""The gateway's operations, shared by the hub protocol (``/vxp``) and the native API.

A :class:`Gateway` acts for the agencies of registered systems: it takes custody of
what they send (sign, keep in the outbox, publish), hands out what their agencies
received, records the systems' confirmations (and answers 01 for them), and reports
on what they sent. Every method takes the calling :class:`System` first and refuses,
with a named reason, what that system may not do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from agency_client import DuplicateDocumentError, OutboxEntry, OutboxState
from bus import Settings, content_digest, get_logger
from edxml import DocumentPackage, StatusCode, StatusPackage, build, new_status
from gateway._time import utc_now
from gateway.answers import KeptAnswers
from gateway.custody import Custody, CustodyResult
from gateway.directory_view import DirectoryView
from gateway.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    NotPermittedError,
)
from gateway.ids import new_doc_id, receiver_doc_id
from gateway.limits import RateLimiter
from gateway.model import Accepted, Delivery, InboxEntry, TransportState
from gateway.outboxes import Outboxes
from gateway.store.schema import INBOX, MESSAGES
from gateway.systems import System, SystemRegistry
from gateway.tracking import TrackerView

__all__ = ["Gateway"]

_log = get_logger("gateway")

ARRIVED_TEXT = "Đã đến (arrived)"

#: The transport states of items still listed (and counted) for a system.
_LISTED = [state.value for state in TransportState if state.listed]


class Gateway:
    """The operations of one gateway over its database, outboxes and custody."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        registry: SystemRegistry,
        custody: Custody,
        outboxes: Outboxes,
        tracker: TrackerView | None = None,
        limiter: RateLimiter | None = None,
        directory: DirectoryView | None = None,
        answers: KeptAnswers | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        #: The answers of writes, for repeats of the same request (idempotency keys).
        self.answers = answers or KeptAnswers(engine)
        self.registry = registry
        self.custody = custody
        self.outboxes = outboxes
        self.tracker = tracker
        self.limiter = limiter or RateLimiter(0, 0)
        self.directory = directory

    def admit(self, system_id: str) -> System:
        """The calling system, authenticated already; refused when over its rate or gone."""
        self.limiter.take(system_id)
        system = self.registry.get(system_id)
        if system is None:  # removed between two reads
            raise AuthenticationError(f"system {system_id} is not registered")
        return system

    # --- sending -----------------------------------------------------------------

    async def send(
        self,
        system: System,
        body: bytes,
        *,
        message_type: str | None = None,
        service_type: str = "eDoc",
        scope: str = "send",
        key: str | None = None,
        fingerprint: str | None = None,
        sender: str | None = None,
    ) -> Accepted:
        """Take custody of a package and send it; a repeat answers the original.

        ``key`` identifies the request for idempotency (the package's digest when
        absent, which absorbs the hub SDK's automatic resends); ``fingerprint`` is what
        a repeat must match (the package's digest unless the caller's request is given);
        ``sender``, when given, is the agency the package must speak for.
        """
        fingerprint = fingerprint or hashlib.sha256(body).hexdigest()
        key = key or f"{message_type or ''}:{fingerprint}"
        earlier = self._earlier(system, scope, key, fingerprint)
        if earlier is not None:
            return earlier
        result = await asyncio.to_thread(self.custody.take, body, system)
        kind = "status" if isinstance(result.package, StatusPackage) else "edoc"
        if message_type is not None and message_type.lower() != kind:
            raise BadRequestError(
                f"messagetype {message_type} does not match the package, which is a {kind}"
            )
        if sender is not None and sender != result.sender:
            raise NotPermittedError(
                f"from names {sender} but the package speaks for {result.sender}"
            )
        await self._check_recipients(result)
        remember = (scope, key, fingerprint)
        keep = (
            self._keep_document
            if isinstance(result.package, DocumentPackage)
            else (self._keep_status)
        )
        try:  # fsync'd writes off the event loop, so concurrent requests overlap them
            accepted, entry = await asyncio.to_thread(keep, system, result, service_type, remember)
        except IntegrityError:  # a concurrent repeat recorded it first: answer as it did
            earlier = self._earlier(system, scope, key, fingerprint)
            if earlier is None:
                raise
            return earlier
        if entry is None:  # nothing new to send (a 01 the gateway sent already)
            return self._remember(system, scope, key, fingerprint, accepted)
        if not accepted.repeated:
            await self.outboxes.publish(accepted.sender, entry)
        return accepted

    async def _check_recipients(self, result: CustodyResult) -> None:
        """Every recipient must be an active agency of the directory: all or nothing."""
        if self.directory is None:
            return
        package = result.package
        if isinstance(package, DocumentPackage):
            codes = tuple(package.recipient_codes)
        elif package.response_for.organ_id and package.response_for.organ_id != result.sender:
            codes = (package.response_for.organ_id,)
        else:
            return
        unknown = await self.directory.unknown(codes)
        if unknown:
            raise NotFoundError(f"unknown recipient agency: {', '.join(unknown)}")

    def _earlier(self, system: System, scope: str, key: str, fingerprint: str) -> Accepted | None:
        answer = self.answers.earlier(system.system_id, scope, key, fingerprint)
        return None if answer is None else _accepted(answer)

    def _remember(
        self, system: System, scope: str, key: str, fingerprint: str, accepted: Accepted
    ) -> Accepted:
        text = _answer_text(accepted)
        answer = self.answers.remember(system.system_id, scope, key, fingerprint, text)
        return accepted if answer == text else _accepted(answer)

    def _keep_document(
        self,
        system: System,
        result: CustodyResult,
        service_type: str,
        remember: tuple[str, str, str],
    ) -> tuple[Accepted, OutboxEntry | None]:
        package = result.package
        assert isinstance(package, DocumentPackage)
        sender = result.sender
        recipients = tuple(dict.fromkeys(package.recipient_codes))
        if not recipients:
            raise NotFoundError("the package names no recipient")
        digest = content_digest(result.data)
        outbox = self.outboxes.of(sender)
        try:
            entry = outbox.add_document(package.document_id, result.data, digest, recipients)
        except DuplicateDocumentError as exc:
            raise ConflictError(
                f"document {package.document_id} was already sent by {sender} with other "
                "content; send an update or a replacement instead"
            ) from exc
        accepted = self._accept(
            system,
            result,
            ("edoc", service_type, package.document_id, None),
            digest,
            recipients,
            (package.subject, str(package.code)),
            remember,
        )
        return accepted, entry

    def _keep_status(
        self,
        system: System,
        result: CustodyResult,
        service_type: str,
        remember: tuple[str, str, str],
    ) -> tuple[Accepted, OutboxEntry | None]:
        package = result.package
        assert isinstance(package, StatusPackage)
        sender = result.sender
        answers = package.document_id
        code = StatusCode(package.status_code)
        outbox = self.outboxes.of(sender)
        if code is StatusCode.ARRIVED:
            sent = self._sent_status_message(sender, answers, code.value)
            if sent is not None:  # the gateway answered 01 already: acknowledged, not resent
                return Accepted(sent[0], answers, "status", sender, sent[1], repeated=True), None
        recipients = self._status_recipients(package)
        digest = content_digest(result.data)
        entry = outbox.add_status(answers, code.value, result.data, digest)
        accepted = self._accept(
            system,
            result,
            ("status", service_type, answers, code.value),
            digest,
            recipients,
            (package.description, code.value),
            remember,
        )
        return accepted, entry

    def _accept(
        self,
        system: System,
        result: CustodyResult,
        message: tuple[str, str, str, str | None],
        digest: str,
        recipients: tuple[str, ...],
        shown: tuple[str, str],
        remember: tuple[str, str, str],
    ) -> Accepted:
        """Record a message kept in its outbox, and the answer to its request.

        ``message``: its type, service type, DocumentId and status code; ``shown``: its
        title and notation.
        """
        message_type, service_type, document_id, status_code = message
        accepted = Accepted(
            new_doc_id(),
            document_id,
            message_type,
            result.sender,
            recipients,
            signed_here=result.signed_here,
            changes=result.changes,
        )
        self._record_message(
            system,
            result.sender,
            message_type,
            service_type,
            document_id,
            status_code,
            digest,
            recipients,
            *shown,
            result.changes,
            doc_id=accepted.doc_id,
            remember=(*remember, _answer_text(accepted)),
        )
        return accepted

    def _status_recipients(self, package: StatusPackage) -> tuple[str, ...]:
        target = package.response_for.organ_id
        if target and target != package.sender_code:
            return (target,)
        original = self.outboxes.of(package.sender_code).get(package.document_id)
        if original is None or not original.recipients:
            raise NotFoundError(
                f"the recipients of status {package.status_code} on {package.document_id} "
                "cannot be determined"
            )
        return original.recipients

    def _sent_status_message(
        self, agency: str, answers: str, code: str
    ) -> tuple[str, tuple[str, ...]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(MESSAGES.c.doc_id, MESSAGES.c.recipients)
                .where(
                    MESSAGES.c.agency == agency,
                    MESSAGES.c.message_type == "status",
                    MESSAGES.c.document_id == answers,
                    MESSAGES.c.status_code == code,
                )
                .order_by(MESSAGES.c.created_at)
                .limit(1)
            ).first()
        if row is None:
            return None
        return str(row.doc_id), tuple(json.loads(row.recipients))

    def _record_message(
        self,
        system: System,
        agency: str,
        message_type: str,
        service_type: str,
        document_id: str,
        status_code: str | None,
        digest: str,
        recipients: tuple[str, ...],
        title: str,
        notation: str,
        changes: tuple[str, ...],
        *,
        doc_id: str | None = None,
        remember: tuple[str, str, str, str] | None = None,
    ) -> str:
        """Record a message the system sent and, in the same transaction, the answer to
        its request (``remember``: scope, key, fingerprint, answer)."""
        doc_id = doc_id or new_doc_id()
        with self.engine.begin() as conn:
            if remember is not None:
                self.answers.keep(conn, system.system_id, *remember)
            conn.execute(
                insert(MESSAGES).values(
                    doc_id=doc_id,
                    system_id=system.system_id,
                    agency=agency,
                    message_type=message_type,
                    service_type=service_type or "eDoc",
                    document_id=document_id,
                    status_code=status_code,
                    digest=digest,
                    recipients=json.dumps(list(recipients)),
                    title=title,
                    notation=notation,
                    changes=json.dumps(list(changes)),
                    forwarded=False,
                    created_at=utc_now(),
                )
            )
        if changes:
            _log.info(
                "package %s of %s normalised before signing: %s",
                document_id,
                agency,
                "; ".join(changes),
                document_id=document_id,
                agency=agency,
            )
        return doc_id

    def sent_document(self, system: System, doc_id: str) -> DocumentPackage:
        """A document the system sent (by its ``DocId``), as it was sent."""
        with self.engine.connect() as conn:
            message = conn.execute(select(MESSAGES).where(MESSAGES.c.doc_id == doc_id)).first()
        if (
            message is None
            or message.system_id != system.system_id
            or (message.message_type != "edoc")
        ):
            raise NotFoundError(f"system {system.system_id} sent no document {doc_id}")
        entry = self.outboxes.of(message.agency).get(message.document_id)
        if entry is None:
            raise NotFoundError(f"document {doc_id} is no longer kept")
        return self.custody.kept_document(entry.data)

    # --- receiving ---------------------------------------------------------------

    def inbox(self, system: System, message_type: str | None = None) -> list[InboxEntry]:
        """The items still listed for the system's agencies, oldest first."""
        if not system.agencies:
            return []
        query = select(INBOX).where(
            INBOX.c.agency.in_(sorted(system.agencies)),
            INBOX.c.state.in_(_LISTED),
        )
        if message_type:
            query = query.where(INBOX.c.message_type == message_type.lower())
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(INBOX.c.created_at, INBOX.c.doc_id)).all()
        return [_entry(r) for r in rows]

    def count(self, system: System, message_type: str) -> int:
        """How many items :meth:`inbox` would list for ``message_type``."""
        if not system.agencies:
            return 0
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.count())
                .select_from(INBOX)
                .where(
                    INBOX.c.agency.in_(sorted(system.agencies)),
                    INBOX.c.message_type == message_type,
                    INBOX.c.state.in_(_LISTED),
                )
            ).scalar()
        return int(value or 0)

    def item(self, system: System, doc_id: str) -> tuple[InboxEntry, bytes]:
        """One item with its exact bytes; unknown and foreign ids look the same."""
        with self.engine.connect() as conn:
            row = conn.execute(select(INBOX).where(INBOX.c.doc_id == doc_id)).first()
        if row is None or not system.serves(row.agency):
            raise NotFoundError(f"no item {doc_id} for system {system.system_id}")
        return _entry(row), bytes(row.data)

    async def update_status(self, system: System, doc_id: str, state: str) -> InboxEntry:
        """Record the system's transport state of an item; ``done`` answers 01 for a document.

        ``done`` and ``fail`` are terminal: repeating one is harmless, changing it is a
        conflict. The 01 is signed and kept in the agency's outbox before the item's
        state changes, so a gateway killed in between answers 01 once, when asked again.
        """
        try:
            new = TransportState(state.strip().lower())
        except ValueError:
            raise BadRequestError(
                f"status {state!r} is not one of done, fail, processing"
            ) from None
        if new is TransportState.INITIAL:
            raise BadRequestError("status initial cannot be set")
        entry, data = self.item(system, doc_id)
        if entry.state in (TransportState.DONE, TransportState.FAIL):
            if entry.state is new:
                return entry
            raise ConflictError(f"item {doc_id} is already {entry.state.value}")
        arrival: OutboxEntry | None = None
        if new is TransportState.DONE and entry.message_type == "edoc":
            arrival = await asyncio.to_thread(self._keep_arrival, system, entry, data)
        now = utc_now()
        with self.engine.begin() as conn:
            conn.execute(
                update(INBOX)
                .where(
                    INBOX.c.doc_id == doc_id,
                    INBOX.c.state.in_(_LISTED),
                )
                .values(state=new.value, updated_at=now)
            )
        if arrival is not None and arrival.submitted_at is None:
            await self.outboxes.publish(entry.agency, arrival)
        return entry.__class__(**{**entry.__dict__, "state": new, "updated_at": now})

    def _keep_arrival(self, system: System, entry: InboxEntry, data: bytes) -> OutboxEntry:
        outbox = self.outboxes.of(entry.agency)
        for kept in outbox.sent_statuses(entry.document_id):
            if kept.status_code == StatusCode.ARRIVED.value:
                return kept
        package = self.custody.kept_document(data)
        status = new_status(entry.agency, package, StatusCode.ARRIVED, ARRIVED_TEXT)
        signer = self.custody.signer(entry.agency)
        signed = signer.sign(build(status), check_sender=True, limits=self.custody.limits)
        digest = content_digest(signed)
        kept = outbox.add_status(entry.document_id, StatusCode.ARRIVED.value, signed, digest)
        self._record_message(
            system,
            entry.agency,
            "status",
            "eDoc",
            entry.document_id,
            StatusCode.ARRIVED.value,
            digest,
            (entry.sender,),
            ARRIVED_TEXT,
            StatusCode.ARRIVED.value,
            (),
        )
        return kept

    # --- what was sent -----------------------------------------------------------

    def deliveries(self, system: System, doc_id: str) -> list[Delivery]:
        """One row per recipient of a message the system sent."""
        with self.engine.connect() as conn:
            message = conn.execute(select(MESSAGES).where(MESSAGES.c.doc_id == doc_id)).first()
            if message is None or message.system_id != system.system_id:
                raise NotFoundError(f"system {system.system_id} sent no message {doc_id}")
            recipients = tuple(json.loads(message.recipients))
            receiver_ids = {
                r: receiver_doc_id(
                    r, message.message_type, message.agency, message.document_id, message.digest
                )
                for r in recipients
            }
            local = {
                row.doc_id: row
                for row in conn.execute(
                    select(INBOX).where(INBOX.c.doc_id.in_(list(receiver_ids.values())))
                ).all()
            }
        outbox = self.outboxes.of(message.agency)
        entry = self._outbox_entry(outbox, message)
        arrivals = {
            s.recipient: s.at
            for s in outbox.statuses(message.document_id)
            if s.status_code == StatusCode.ARRIVED.value
        }
        tracked = (
            self.tracker.status(message.document_id)
            if self.tracker is not None and message.message_type == "edoc"
            else None
        )
        steps = {r.recipient: r for r in tracked.recipients} if tracked is not None else {}
        rows = []
        for recipient in recipients:
            send_status, send_desc = _send_state(entry)
            seen = steps.get(recipient)
            if tracked is not None and tracked.rejected_reason:
                send_status, send_desc = "fail", f"Gửi lỗi: {tracked.rejected_reason}"
            elif seen is not None and seen.delivered_at is not None:
                send_status, send_desc = "done", "Đã gửi"
            here = local.get(receiver_ids[recipient])
            if here is not None:
                receive = TransportState(here.state)
                received = here.updated_at if receive is TransportState.DONE else None
            elif (
                message.message_type == "edoc"
                and entry is not None
                and (recipient in entry.arrived)
            ):
                receive, received = TransportState.DONE, arrivals.get(recipient)
            elif seen is not None and StatusCode.ARRIVED.value in seen.steps:
                receive, received = TransportState.DONE, seen.steps[StatusCode.ARRIVED.value]
            else:
                receive, received = TransportState.INITIAL, None
            rows.append(
                Delivery(
                    sender_doc_id=doc_id,
                    receiver_doc_id=receiver_ids[recipient],
                    from_code=message.agency,
                    to_code=recipient,
                    send_status=send_status,
                    send_status_desc=send_desc,
                    receive_status=receive.value,
                    receive_status_desc=receive.description,
                    title=message.title,
                    notation=message.notation,
                    message_type=message.message_type,
                    service_type=message.service_type,
                    sent_time=message.created_at,
                    received_time=received,
                )
            )
        return rows

    @staticmethod
    def _outbox_entry(outbox: Any, message: Any) -> OutboxEntry | None:
        if message.message_type == "edoc":
            found: OutboxEntry | None = outbox.get(message.document_id)
            return found
        return next(
            (e for e in outbox.sent_statuses(message.document_id) if e.digest == message.digest),
            None,
        )


def _answer_text(accepted: Accepted) -> str:
    return json.dumps(
        {
            "doc_id": accepted.doc_id,
            "document_id": accepted.document_id,
            "message_type": accepted.message_type,
            "sender": accepted.sender,
            "recipients": list(accepted.recipients),
            "signed_here": accepted.signed_here,
            "changes": list(accepted.changes),
        }
    )


def _accepted(answer: str) -> Accepted:
    """The answer kept by :func:`_answer_text`, as given again to a repeat."""
    fields = json.loads(answer)
    return Accepted(
        doc_id=fields["doc_id"],
        document_id=fields["document_id"],
        message_type=fields["message_type"],
        sender=fields["sender"],
        recipients=tuple(fields["recipients"]),
        repeated=True,
        signed_here=fields.get("signed_here", False),
        changes=tuple(fields.get("changes", ())),
    )


def _send_state(entry: OutboxEntry | None) -> tuple[str, str]:
    if entry is None:
        return "initial", "Chờ gửi"
    if entry.state is OutboxState.REJECTED:
        return "fail", f"Gửi lỗi: {entry.reason or entry.reason_code or ''}".strip()
    if entry.submitted_at is not None:
        return "done", "Đã gửi"
    return "initial", "Chờ gửi"


def _aware(moment: datetime) -> datetime:
    """UTC-aware (SQLite hands timestamps back without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _entry(row: Any) -> InboxEntry:
    return InboxEntry(
        doc_id=row.doc_id,
        agency=row.agency,
        message_type=row.message_type,
        sender=row.sender,
        document_id=row.document_id,
        status_code=row.status_code,
        digest=row.digest,
        state=TransportState(row.state),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )
