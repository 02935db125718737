"""Hostile bundles: whatever the zip holds, verify answers with a named refusal, never a crash
and never "verified"."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.tlog import BUNDLE_FORMAT, EvidenceFormatError, verify_evidence
from signing import DevPki, NoteSigner

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
member_names = st.sampled_from(
    [
        "checkpoint",
        "checkpoint.tsr",
        "proofs/0.json",
        "packages/0-document-accepted.edxml",
        "certs/a.pem",
        "crls/0.pem",
        "../../escape",
        "manifest.json",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    leaves=json_values,
    members=st.dictionaries(member_names, st.binary(max_size=200), max_size=6),
    tree_size=json_values,
    list_files=st.booleans(),
)
def test_any_bundle_is_refused_by_name(
    dev_pki: DevPki,
    tmp_path_factory: pytest.TempPathFactory,
    leaves: Any,
    members: dict[str, bytes],
    tree_size: Any,
    list_files: bool,
) -> None:
    members.pop("manifest.json", None)
    manifest = {
        "format": BUNDLE_FORMAT,
        "document_id": "x",
        "tree_size": tree_size,
        "leaves": leaves,
        "files": (
            {n: hashlib.sha256(d).hexdigest() for n, d in members.items()} if list_files else leaves
        ),
    }
    path = tmp_path_factory.mktemp("hostile") / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    anchors = [x509.load_pem_x509_certificate(dev_pki.root_cert_path.read_bytes())]
    try:
        report = verify_evidence(path, anchors, _KEY)
    except EvidenceFormatError:
        return
    assert not report.ok
    assert all(c.reason_code for c in report.checks if not c.ok)


_KEY = NoteSigner.generate("edxbus.test/log").verifier()


def test_a_zip_bomb_member_is_refused_before_it_is_read(dev_pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json",
            json.dumps({"format": BUNDLE_FORMAT, "files": {"checkpoint": "0" * 64}, "leaves": []}),
        )
        archive.writestr("checkpoint", b"\0" * (65 * 1024 * 1024))
    anchors = [x509.load_pem_x509_certificate(dev_pki.root_cert_path.read_bytes())]
    with pytest.raises(EvidenceFormatError, match="larger than any part may be"):
        verify_evidence(path, anchors, _KEY)
