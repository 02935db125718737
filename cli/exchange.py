"""edx send / inbox / report: a clerk acting as an agency on the bus.

Each command is one call into ``agency_client`` (``send_document``,
``read_inbox``, ``report_status``) and renders the answer as text or ``--json``.
``--agency`` (``--from`` for send) names the agency; its key and certificate are
found under ``$EDX_PKI/agencies/CODE/`` unless ``--key``/``--cert`` are given.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from agency_client import (
    AgencyClient,
    DeliveryTimeoutError,
    InboxItem,
    IncomingDocument,
    IncomingStatus,
    Outbox,
    OutboxEntry,
    RejectionNotice,
    SendOutcome,
    read_inbox,
    report_status,
    send_document,
)
from bus import Settings, content_digest, make_verifier
from cli.options import current_settings, home_option, option_group, quiet_driver, read_input
from cli.render import echo_json, to_jsonable
from edxml import DocumentPackage, StatusCode
from gateway import Custody, CustodyResult, System

__all__ = ["COMMANDS"]

_PEM = click.Path(path_type=Path, dir_okay=False, exists=True)

#: ``--key``/``--cert``: the agency's key and certificate, if not in $EDX_PKI;
#: ``--home``: the state directory holding the agency's outbox and inbox stores.
_credentials = option_group(
    click.option(
        "--key", "key_path", type=_PEM, help="Private key (default: $EDX_PKI/agencies/CODE/)."
    ),
    click.option(
        "--cert", "cert_path", type=_PEM, help="Certificate (default: $EDX_PKI/agencies/CODE/)."
    ),
    home_option,
)


def _codes(value: str) -> list[str]:
    codes = [c.strip() for c in value.split(",") if c.strip()]
    if not codes:
        raise click.BadParameter("name at least one recipient agency code")
    return codes


# --- send ----------------------------------------------------------------------------


def _sent_json(outcome: SendOutcome) -> dict[str, Any]:
    entry = outcome.entry
    return {
        "document_id": outcome.document_id,
        "state": entry.state.value,
        "published": entry.submit_count > 0,
        "delivered": outcome.delivered,
        "recipients": list(entry.recipients),
        "arrived": sorted(entry.arrived),
        "missing": list(entry.missing),
        "digest": entry.digest,
    }


def _take_file(
    settings: Settings,
    path: Path,
    sender: str,
    key_paths: tuple[Path, Path] | None,
) -> CustodyResult:
    """A package office software built, made ready to send as ``sender``.

    Signed: it must verify for ``sender`` and then goes byte for byte. Unsigned:
    a strict package is signed; one that reads only tolerantly is rebuilt in the
    strict form (what changed is reported) or refused with the reason. The rules
    are the gateway's custody, so a package the gateway accepts is one this accepts.
    """
    custody = Custody(
        settings,
        make_verifier(settings),
        key_paths=None if key_paths is None else (lambda _agency: key_paths),
    )
    acting = System(system_id=f"edx send --from {sender}", agencies=frozenset({sender}))
    taken = custody.take(read_input(path), acting)
    if not isinstance(taken.package, DocumentPackage):
        raise click.UsageError(f"{path} is a status package: edx report sends statuses")
    return taken


async def _send_taken(
    settings: Settings, sender: str, taken: CustodyResult, wait: float, **client_options: Any
) -> SendOutcome:
    """Keep the package in ``sender``'s outbox, then publish it (or leave it for later)."""
    package = taken.package
    assert isinstance(package, DocumentPackage)
    outbox = Outbox(settings.outbox_path(sender))
    try:
        outbox.add_document(
            package.document_id,
            taken.data,
            content_digest(taken.data),
            [r.organ_id for r in package.recipients],
        )
    finally:
        outbox.close()
    async with AgencyClient(settings, sender, connect_later=True, **client_options) as client:
        await client.resubmit_due()
        delivered = False
        if wait > 0:
            try:
                await client.wait_delivered(package.document_id, wait)
                delivered = True
            except DeliveryTimeoutError:
                delivered = False
        return SendOutcome(package.document_id, client.sent(package.document_id), delivered)


def _required_without_file(given: dict[str, str | None]) -> dict[str, str]:
    missing = [f"--{name}" for name, value in given.items() if not value]
    if missing:
        raise click.UsageError(f"give --file PACKAGE, or {', '.join(missing)}")
    return {name: value for name, value in given.items() if value}


@click.command()
@click.option("--from", "sender", required=True, metavar="CODE", help="The sending agency.")
@click.option(
    "--file",
    "package_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True, allow_dash=True),
    help="Send this EDXML package (built by office software) instead of building one.",
)
@click.option("--to", "to", metavar="CODE[,CODE...]", help="Recipient agencies.")
@click.option("--subject", help="The abstract (trích yếu).")
@click.option("--number", help="Document number (số).")
@click.option("--notation", help="Notation (ký hiệu), e.g. UBND-VP.")
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A file to attach (repeatable).",
)
@click.option("--due", type=click.DateTime(formats=["%Y-%m-%d"]), help="Deadline (YYYY-MM-DD).")
@click.option("--content", default="", help="Body text.")
@click.option("--signer", "signer_name", default="", help="Who signed the document.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for every recipient's arrival (01).",
)
@_credentials
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def send(
    sender: str,
    package_file: Path | None,
    to: str | None,
    subject: str | None,
    number: str | None,
    notation: str | None,
    attachments: tuple[Path, ...],
    due: datetime | None,
    content: str,
    signer_name: str,
    wait: float,
    key_path: Path | None,
    cert_path: Path | None,
    as_json: bool,
) -> None:
    """Sign a document and send it; it stays in the outbox until every 01 is back.

    With --file, the package is read strictly (one that reads only tolerantly is
    rebuilt in the strict form, or refused with the reason), signed unless it
    carries a signature, which must then verify for --from.
    """
    quiet_driver()
    settings = current_settings()
    changes: tuple[str, ...] = ()
    if package_file is not None:
        built = {"to": to, "subject": subject, "number": number, "notation": notation}
        if any(built.values()) or attachments or due or content or signer_name:
            raise click.UsageError("--file sends the package as it is: drop the other fields")
        key_paths = None if key_path is None or cert_path is None else (key_path, cert_path)
        taken = _take_file(settings, package_file, sender, key_paths)
        changes = taken.changes
        outcome = asyncio.run(
            _send_taken(settings, sender, taken, wait, key_path=key_path, cert_path=cert_path)
        )
    else:
        fields = _required_without_file(
            {"to": to, "subject": subject, "number": number, "notation": notation}
        )
        outcome = asyncio.run(
            send_document(
                settings,
                sender,
                _codes(fields["to"]),
                number=fields["number"],
                notation=fields["notation"],
                subject=fields["subject"],
                attachments=attachments,
                due_date=due.date() if due else None,
                content=content,
                signer_name=signer_name,
                wait=wait,
                key_path=key_path,
                cert_path=cert_path,
            )
        )
    if as_json:
        echo_json({**_sent_json(outcome), "normalised": list(changes)})
        return
    entry = outcome.entry
    click.echo(outcome.document_id)
    for change in changes:
        click.echo(f"normalised: {change}")
    if outcome.delivered:
        click.echo(f"delivered: 01 from all {len(entry.recipients)} recipients")
    elif entry.submit_count == 0:
        click.echo(
            "kept in the outbox: the bus did not answer; it is sent by the next edx "
            f"command (or office software) acting as {sender}"
        )
    else:
        click.echo(
            f"submitted to {len(entry.recipients)} recipients; "
            f"waiting for 01 from {', '.join(entry.missing)}"
        )


# --- inbox ---------------------------------------------------------------------------


def _item_json(item: InboxItem) -> dict[str, Any]:
    if isinstance(item, IncomingDocument):
        package = item.package
        return {
            "kind": "document",
            "document_id": item.document_id,
            "from": item.sender,
            "subject": package.subject,
            "code_number": package.code.number,
            "code_notation": package.code.notation,
            "business_type": package.business.doc_type.label,
            "target": package.business.document_id or None,
            "due_date": package.due_date,
            "attachments": [
                {"name": a.name, "content_type": a.content_type, "size": a.size}
                for a in package.attachments
            ],
            "signer": item.verified.agency_code,
            "digest": item.digest,
        }
    if isinstance(item, IncomingStatus):
        return {
            "kind": "status",
            "document_id": item.document_id,
            "from": item.sender,
            "status_code": item.status_code.value,
            "status": item.status_code.meaning,
            "description": item.description,
            "digest": item.digest,
        }
    return {
        "kind": "rejection",
        "document_id": item.document_id or None,
        "reason_code": item.reason_code,
        "reason": item.reason,
        "sent_by_this_client": item.in_outbox,
        "digest": item.digest,
    }


def _item_line(item: InboxItem) -> str:
    if isinstance(item, IncomingDocument):
        kind = item.package.business.doc_type.label
        tail = f"  ({kind} of {item.package.business.document_id})" if kind != "new" else ""
        return f"document  {item.document_id}  from {item.sender}  {item.package.subject}{tail}"
    if isinstance(item, IncomingStatus):
        said = f": {item.description}" if item.description else ""
        return (
            f"status    {item.document_id}  from {item.sender}  "
            f"{item.status_code.value} {item.status_code.meaning}{said}"
        )
    assert isinstance(item, RejectionNotice)
    return f"REFUSED   {item.document_id or '(no id)'}  {item.reason} [{item.reason_code}]"


def _save(directory: Path, item: InboxItem) -> None:
    name = "".join(c if c.isalnum() or c in "-._" else "_" for c in item.document_id) or "package"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{item.kind}-{name}-{item.digest[:12]}.edxml").write_bytes(item.data)


@click.command()
@click.option("--agency", required=True, metavar="CODE", help="The agency whose inbox to read.")
@click.option("--follow", is_flag=True, help="Keep reading until Ctrl-C.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="Without --follow: stop after this many seconds with nothing new.",
)
@click.option(
    "--save",
    "save_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write each package's exact bytes into this directory.",
)
@_credentials
@click.option("--json", "as_json", is_flag=True, help="JSON (one object per line with --follow).")
def inbox(
    agency: str,
    follow: bool,
    wait: float,
    save_dir: Path | None,
    key_path: Path | None,
    cert_path: Path | None,
    as_json: bool,
) -> None:
    """Show what arrived for an agency; each package shown is answered 01 automatically."""
    quiet_driver()
    collected: list[dict[str, Any]] = []
    shown = [0]
    current = current_settings()

    async def run() -> None:
        async for item in read_inbox(
            current,
            agency,
            follow=follow,
            idle_timeout=wait,
            key_path=key_path,
            cert_path=cert_path,
        ):
            shown[0] += 1
            if save_dir is not None:
                _save(save_dir, item)
            if as_json and follow:
                click.echo(json.dumps(to_jsonable(_item_json(item)), ensure_ascii=False))
            elif as_json:
                collected.append(_item_json(item))
            else:
                click.echo(_item_line(item))

    _run_until_interrupted(run)
    if as_json and not follow:
        echo_json(collected)
    elif not as_json and not shown[0]:
        click.echo("nothing new", err=True)


#: How long Ctrl-C lets the inbox stop cleanly (commit what was taken, leave the
#: consumer group, close the stores) before the command exits anyway.
STOP_GRACE = 1.0


def _run_until_interrupted(reading: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``reading`` to its end, or until Ctrl-C and then for at most :data:`STOP_GRACE`.

    Why not ``asyncio.run``: after Ctrl-C it waits for the client's whole stop and
    then for every task left, and each of those waits on the broker. On a broker
    that does not answer, the last offset commit alone waits for the client's
    publish timeout (15 s), leaving the group and flushing the producer have no
    bound at all, and a task that misses its cancellation (Python 3.11's
    ``wait_for`` once dropped one) holds the exit for as long as it runs. So the
    reading runs on an event loop in a daemon thread while this thread waits for
    Ctrl-C: on it the reading is cancelled (its clean stop usually takes a few
    milliseconds) and the command exits once that stop is over or the grace is
    up. Cutting the stop short loses nothing: the 01s are in the outbox and go out
    with the next command, and a package whose offset was not committed is read
    again, recognised by the inbox store if it was taken (shown again if Ctrl-C
    came first, as without the cut).
    """
    loop: list[asyncio.AbstractEventLoop] = []
    task: list[asyncio.Task[Any]] = []
    interrupted = threading.Event()
    # An event, not Thread.join: Python 3.11 takes a thread whose join Ctrl-C
    # interrupted for stopped, and the next join returns at once.
    finished = threading.Event()
    failure: list[BaseException] = []

    async def guarded() -> None:
        loop.append(asyncio.get_running_loop())
        current = asyncio.current_task()
        assert current is not None
        task.append(current)
        if interrupted.is_set():  # Ctrl-C came before the loop ran
            return
        await reading()

    def serve() -> None:
        try:
            asyncio.run(guarded())
        except BaseException as error:  # handed to the command's thread
            failure.append(error)
        finally:
            finished.set()

    def cancel() -> None:
        interrupted.set()
        if loop and task:
            loop[0].call_soon_threadsafe(task[0].cancel)

    worker = threading.Thread(target=serve, name="edx-inbox", daemon=True)
    worker.start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        cancel()
        finished.wait(STOP_GRACE)
        raise
    if failure:
        raise failure[0]


# --- report --------------------------------------------------------------------------


def _status_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "document_id": entry.document_id,
        "status_code": entry.status_code,
        "state": entry.state.value,
        "published": entry.submit_count > 0,
        "digest": entry.digest,
    }


@click.command()
@click.argument("document_id")
@click.option("--agency", required=True, metavar="CODE", help="The agency reporting.")
@click.option(
    "--status",
    required=True,
    type=click.Choice(
        [c.value for c in StatusCode if c not in (StatusCode.ARRIVED, StatusCode.TAKE_BACK)]
    ),
    help="02 refused, 03 accepted, 04 assigned, 05 processing, 06 completed, 15/16.",
)
@click.option("--description", default="", help="Why (mandatory in practice for 02 and 16).")
@_credentials
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def report(
    document_id: str,
    agency: str,
    status: str,
    description: str,
    key_path: Path | None,
    cert_path: Path | None,
    as_json: bool,
) -> None:
    """Send a signed status on a document the agency received."""
    quiet_driver()
    entry = asyncio.run(
        report_status(
            current_settings(),
            agency,
            document_id,
            status,
            description,
            key_path=key_path,
            cert_path=cert_path,
        )
    )
    if as_json:
        echo_json(_status_json(entry))
        return
    code = StatusCode(status)
    where = "sent" if entry.submit_count else "kept in the outbox (the bus did not answer)"
    click.echo(f"status {code.value} ({code.meaning}) on {document_id}: {where}")


COMMANDS: list[click.Command] = [send, inbox, report]
