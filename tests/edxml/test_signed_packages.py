"""The contract with ``signing``: a signed package still reads strictly, and
``parse`` reports what its signature declares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import edxml
from tests.edxml.helpers import make_package


def test_signed_package_passes_strict(signer_for: Callable[[str], Any]) -> None:
    package = make_package(attachments=[edxml.Attachment.from_bytes("a.pdf", b"%PDF" * 50)])
    signed = signer_for("000.00.00.G22").sign(edxml.build(package), check_sender=True)
    result = edxml.parse(signed)
    assert result.package == package
    assert result.deviations == ()
    assert result.signature.present
    assert result.signature.namespaced
    assert result.signature.algorithm == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert result.signature.c14n == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert edxml.sender_code_of(edxml.safe_fromstring(signed)) == "000.00.00.G22"


def test_signed_status_passes_strict(signer_for: Callable[[str], Any]) -> None:
    status = edxml.new_status("000.00.00.H41", make_package(), edxml.StatusCode.ARRIVED, "Đã đến")
    signed = signer_for("000.00.00.H41").sign(edxml.build(status), check_sender=True)
    result = edxml.parse(signed)
    assert result.package == status
    assert result.signature.present
