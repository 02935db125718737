"""edx send / inbox / report: a clerk acting as an agency on the bus.

Each command is one call into ``agency_client`` (``send_document``,
``read_inbox``, ``report_status``) and renders the answer as text or ``--json``.
``--agency`` (``--from`` for send) names the agency; its key and certificate are
found under ``$EDX_PKI/agencies/CODE/`` unless ``--key``/``--cert`` are given.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from agency_client import (
    InboxItem,
    IncomingDocument,
    IncomingStatus,
    OutboxEntry,
    RejectionNotice,
    SendOutcome,
    read_inbox,
    report_status,
    send_document,
)
from bus import load_settings
from cli.render import echo_json, to_jsonable
from edxml import StatusCode

__all__ = ["COMMANDS", "inbox", "report", "send"]

F = TypeVar("F", bound=Callable[..., Any])


def _credentials(command: F) -> F:
    """``--key``/``--cert``: the agency's key and certificate, if not in $EDX_PKI."""
    path = click.Path(path_type=Path, dir_okay=False, exists=True)
    command = click.option(
        "--cert", "cert_path", type=path, help="Certificate (default: $EDX_PKI/agencies/CODE/)."
    )(command)
    return click.option(
        "--key", "key_path", type=path, help="Private key (default: $EDX_PKI/agencies/CODE/)."
    )(command)


def _quiet_driver() -> None:
    """The Kafka driver logs every reconnect attempt; a clerk gets one line instead."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


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


@click.command()
@click.option("--from", "sender", required=True, metavar="CODE", help="The sending agency.")
@click.option("--to", "to", required=True, metavar="CODE[,CODE...]", help="Recipient agencies.")
@click.option("--subject", required=True, help="The abstract (trích yếu).")
@click.option("--number", required=True, help="Document number (số).")
@click.option("--notation", required=True, help="Notation (ký hiệu), e.g. UBND-VP.")
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
    to: str,
    subject: str,
    number: str,
    notation: str,
    attachments: tuple[Path, ...],
    due: datetime | None,
    content: str,
    signer_name: str,
    wait: float,
    key_path: Path | None,
    cert_path: Path | None,
    as_json: bool,
) -> None:
    """Sign a document and send it; it stays in the outbox until every 01 is back."""
    _quiet_driver()
    outcome = asyncio.run(
        send_document(
            load_settings(),
            sender,
            _codes(to),
            number=number,
            notation=notation,
            subject=subject,
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
        echo_json(_sent_json(outcome))
        return
    entry = outcome.entry
    click.echo(outcome.document_id)
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
    _quiet_driver()
    collected: list[dict[str, Any]] = []
    shown = [0]

    async def run() -> None:
        async for item in read_inbox(
            load_settings(),
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

    asyncio.run(run())
    if as_json and not follow:
        echo_json(collected)
    elif not as_json and not shown[0]:
        click.echo("nothing new", err=True)


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
    type=click.Choice(["02", "03", "04", "05", "06", "15", "16"]),
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
    _quiet_driver()
    entry = asyncio.run(
        report_status(
            load_settings(),
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
