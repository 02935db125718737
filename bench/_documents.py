"""The one kind of document the bus benchmarks send: a numbered dispatch between
two fixed agencies, padded with an attachment to the size a benchmark wants."""

from __future__ import annotations

from edxml import Attachment, DocumentPackage, new_document

__all__ = ["RECIPIENT", "SENDER", "bench_document"]

SENDER = "000.00.00.H44"
RECIPIENT = "000.00.24.H44"


def bench_document(sender: str, number: int, padding: int, subject: str) -> DocumentPackage:
    """Document ``number`` from ``sender`` to :data:`RECIPIENT`, its attachment
    ``padding`` bytes long."""
    return new_document(
        sender,
        [RECIPIENT],
        number=str(number),
        notation="UBND-BENCH",
        subject=subject,
        signer_name="Nguyễn Văn A",
        attachments=[Attachment.from_bytes("noi-dung.txt", b"x" * padding)],
    )
