"""Helpers shared by the edxml and CLI tests (a plain module: importable from anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import edxml

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=edxml.VIETNAM_TIME)


def make_package(
    attachments: Sequence[edxml.Attachment] = (), **overrides: Any
) -> edxml.DocumentPackage:
    """A valid document package from the Government Office to two provinces."""
    arguments: dict[str, Any] = {
        "number": "15",
        "notation": "VPCP-TH",
        "subject": "Về việc triển khai trục liên thông văn bản",
        "signer_name": "Nguyễn Văn A",
        "promulgation_date": date(2026, 3, 2),
        "timestamp": WHEN,
        "attachments": attachments,
    }
    arguments.update(overrides)
    return edxml.new_document(
        edxml.Organization("000.00.00.G22", organ_name="Văn phòng Chính phủ"),
        ["000.00.00.H41", "000.00.24.H44"],
        **arguments,
    )
