"""An agency's application as a process of its own, so it can be killed with -9.

    python -m tests.chaos.agency_app send JOURNAL AGENCY RECIPIENT... --count N
    python -m tests.chaos.agency_app receive JOURNAL AGENCY

Settings come from the ``EDX_*`` environment, as for any office software.

``send`` sends ``N`` documents one by one and journals ``sent ID`` once ``send()``
returned (the document is in the outbox: the promise starts there). Restarted, it
carries on after the last ``sent`` line. It then keeps running so its outbox can
re-submit, drains its own inbox (01s and notices) all along, and journals the
outbox's ``pending`` count every second.

``receive`` journals ``got ID`` when the SDK hands a document over, acknowledges it,
then journals ``ack ID``: a ``got`` without its ``ack`` is the application's own
unacknowledged item, which the SDK may rightly hand over again after a kill.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from agency_client import AgencyClient, IncomingDocument, UnknownDocumentError
from bus import configure_logging, load_settings
from edxml import new_document
from edxml.errors import EdxbusError
from tests.chaos.journal import Journal, read_journal

PENDING_EVERY_SECONDS = 1.0


async def _drain(client: AgencyClient) -> None:
    async for item in client.receive():
        await client.acknowledge(item)


async def _report_pending(client: AgencyClient, journal: Journal) -> None:
    while True:
        journal.write("pending", str(len(client.pending())))
        await asyncio.sleep(PENDING_EVERY_SECONDS)


async def _send_one(client: AgencyClient, journal: Journal, document_id: str, data: object) -> None:
    """Send until the document is in the outbox; an error with it in the outbox is no error."""
    while True:
        try:
            await client.send(data)  # type: ignore[arg-type]
            return
        except EdxbusError as exc:
            journal.write("send-error", f"{document_id} {type(exc).__name__}: {exc}")
            with contextlib.suppress(UnknownDocumentError):
                client.sent(document_id)
                return
            await asyncio.sleep(1.0)


async def send(
    journal_path: Path, agency: str, recipients: list[str], count: int, pause: float
) -> None:
    settings = load_settings()
    configure_logging(settings)
    entries = read_journal(journal_path)
    generation = sum(1 for e in entries if e.kind == "start") + 1
    done = sum(1 for e in entries if e.kind == "sent")
    journal = Journal(journal_path)
    journal.write("start", str(generation))
    async with AgencyClient(settings, agency, publish_timeout=3.0, connect_later=True) as client:
        background = [
            asyncio.create_task(_drain(client)),
            asyncio.create_task(_report_pending(client, journal)),
        ]
        for index in range(done, count):
            document = new_document(
                agency,
                recipients,
                number=f"{generation}{index:05d}",
                notation="CHAOS",
                subject=f"Về việc thử lỗi số {index}",
                signer_name="Nguyễn Văn A",
            )
            journal.write("intent", document.document_id)
            await _send_one(client, journal, document.document_id, document)
            journal.write("sent", document.document_id)
            await asyncio.sleep(pause)
        journal.write("done")
        await asyncio.gather(*background)


async def receive(journal_path: Path, agency: str) -> None:
    settings = load_settings()
    configure_logging(settings)
    journal = Journal(journal_path)
    journal.write("start")
    async with AgencyClient(settings, agency, connect_later=True) as client:
        async for item in client.receive():
            if isinstance(item, IncomingDocument):
                journal.write("got", item.document_id)
                await client.acknowledge(item)
                journal.write("ack", item.document_id)
            else:
                await client.acknowledge(item)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.agency_app")
    commands = parser.add_subparsers(dest="command", required=True)
    sender = commands.add_parser("send")
    sender.add_argument("journal", type=Path)
    sender.add_argument("agency")
    sender.add_argument("recipients", nargs="+")
    sender.add_argument("--count", type=int, required=True)
    sender.add_argument("--pause", type=float, default=0.05)
    receiver = commands.add_parser("receive")
    receiver.add_argument("journal", type=Path)
    receiver.add_argument("agency")
    args = parser.parse_args()
    if args.command == "send":
        asyncio.run(send(args.journal, args.agency, args.recipients, args.count, args.pause))
    else:
        asyncio.run(receive(args.journal, args.agency))


if __name__ == "__main__":
    main()
