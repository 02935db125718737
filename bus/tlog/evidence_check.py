"""Checking an evidence bundle offline, with nothing but the trust anchors and the log's key.

The auditor brings two things the operator does not control: the root
certificate(s) of the PKI and the log's note verifier key. Everything else comes
from the bundle and is checked, in this order (each a named :class:`BundleCheck`):

1. ``manifest``: every file listed, present, with the SHA-256 the manifest names;
2. ``checkpoint``: the note is signed by the log's key and names the bundle's tree;
3. ``timestamp``: the RFC 3161 reply covers the checkpoint's exact bytes, is signed
   by a TSA certified by an anchor; its time is *the* time of the evidence;
4. ``leaf N``: the canonical record hashes to the proven leaf, the inclusion proof
   leads to the checkpoint's root, and the record names this document;
5. ``package N``: the bytes hash to the leaf's digest; an accepted package's XML
   signature verifies at the time-stamp's time against the anchors, the bundle's
   intermediate certificates and CRLs, and was made by the leaf's sender. A refused
   package is checked for its digest only: it was refused for a reason.

Nothing is extracted to disk; members are read by the names the manifest gives,
each bounded in size, so a hostile zip cannot write files or exhaust memory.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from bus.tlog.errors import EvidenceFormatError
from bus.tlog.evidence import BUNDLE_FORMAT
from bus.tlog.leaf import Decision, LeafRecord
from bus.tlog.proofs import LeafProof
from edxml import Limits
from edxml.errors import EdxbusError
from signing import (
    NoteVerifier,
    TrustStore,
    VerificationPolicy,
    Verifier,
    leaf_hash,
    open_checkpoint,
    verify_inclusion,
    verify_timestamp,
)

__all__ = ["BundleCheck", "BundleReport", "verify_evidence"]

#: The largest part of a bundle; a package part may also be as large as the package
#: limit the bundle is checked with (``limits.max_package_bytes``, from the settings).
_MAX_MEMBER = 64 * 1024 * 1024
_MAX_MEMBERS = 10_000


@dataclass(frozen=True)
class BundleCheck:
    """One check of a bundle: what was checked, whether it held, and why not."""

    name: str
    ok: bool
    detail: str
    reason_code: str | None = None


@dataclass(frozen=True)
class BundleReport:
    """Every check of one bundle, and what it establishes when all hold."""

    document_id: str
    tree_size: int
    timestamp: datetime | None
    checks: tuple[BundleCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return all(check.ok for check in self.checks)


class _Bundle:
    def __init__(self, path: Path, max_member: int = _MAX_MEMBER) -> None:
        self._max_member = max_member
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise EvidenceFormatError(f"{path} is not a readable zip file: {error}") from error
        if len(self._zip.infolist()) > _MAX_MEMBERS:
            raise EvidenceFormatError(f"{path} holds too many files for an evidence bundle")

    def read(self, name: str) -> bytes:
        try:
            info = self._zip.getinfo(name)
        except KeyError as error:
            raise EvidenceFormatError(f"the bundle has no {name}") from error
        if info.file_size > self._max_member:
            raise EvidenceFormatError(f"{name} in the bundle is larger than any part may be")
        with self._zip.open(info) as member:
            data = member.read(self._max_member + 1)
        if len(data) > self._max_member:
            raise EvidenceFormatError(f"{name} in the bundle is larger than any part may be")
        return data

    def close(self) -> None:
        self._zip.close()


def _manifest(bundle: _Bundle) -> dict[str, Any]:
    try:
        manifest = json.loads(bundle.read("manifest.json"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvidenceFormatError(f"manifest.json is not JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise EvidenceFormatError(f"not an edxbus evidence bundle (format {BUNDLE_FORMAT})")
    return manifest


def _failed(name: str, error: EdxbusError) -> BundleCheck:
    return BundleCheck(name, False, str(error), error.reason_code)


def verify_evidence(
    path: Path,
    anchors: Sequence[x509.Certificate],
    log_key: NoteVerifier,
    *,
    limits: Limits | None = None,
) -> BundleReport:
    """Check the bundle at ``path`` against ``anchors`` and the log's key, offline."""
    bundle = _Bundle(path, max(_MAX_MEMBER, (limits or Limits()).max_package_bytes))
    try:
        return _verify(bundle, anchors, log_key, limits)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, EdxbusError):
            raise
        # A manifest of the right format but the wrong shape: hostile or broken.
        raise EvidenceFormatError(f"the bundle's manifest is malformed: {error!r}") from error
    finally:
        bundle.close()


def _verify(
    bundle: _Bundle,
    anchors: Sequence[x509.Certificate],
    log_key: NoteVerifier,
    limits: Limits | None,
) -> BundleReport:
    manifest = _manifest(bundle)
    document_id = str(manifest.get("document_id", ""))
    checks: list[BundleCheck] = []
    files: dict[str, bytes] = {}
    for name, digest in sorted(dict(manifest.get("files", {})).items()):
        data = bundle.read(name)
        files[name] = data
        if hashlib.sha256(data).hexdigest() != digest:
            checks.append(
                BundleCheck(
                    f"file {name}", False, "content differs from the manifest", "evidence-altered"
                )
            )
    if not any(not c.ok for c in checks):
        checks.append(BundleCheck("manifest", True, f"{len(files)} files as listed"))
    try:
        checkpoint = open_checkpoint(files.get("checkpoint", b""), [log_key])
    except EdxbusError as error:
        checks.append(_failed("checkpoint", error))
        return BundleReport(document_id, 0, None, tuple(checks))
    if checkpoint.size != manifest.get("tree_size"):
        checks.append(
            BundleCheck(
                "checkpoint", False, "the manifest names another tree size", "evidence-altered"
            )
        )
    else:
        checks.append(
            BundleCheck("checkpoint", True, f"signed by {log_key.name}: {checkpoint.size} leaves")
        )
    timestamp = None
    try:
        info = verify_timestamp(files.get("checkpoint.tsr", b""), files["checkpoint"], anchors)
    except EdxbusError as error:
        checks.append(_failed("timestamp", error))
    else:
        timestamp = info.gen_time
        checks.append(
            BundleCheck("timestamp", True, f"{info.gen_time.isoformat()} by {info.tsa_subject}")
        )
    try:
        certs = [
            cert
            for name, data in files.items()
            if name.startswith("certs/")
            for cert in x509.load_pem_x509_certificates(data)
        ]
        crls = [x509.load_pem_x509_crl(data) for n, data in files.items() if n.startswith("crls/")]
    except ValueError as error:
        message = f"a certificate or CRL of the bundle is unreadable: {error}"
        raise EvidenceFormatError(message) from error
    trust = TrustStore(tuple(anchors), tuple(c for c in certs if c not in anchors), tuple(crls))
    verifier = Verifier(trust, VerificationPolicy(), limits=limits)
    for entry in manifest.get("leaves", []):
        checks.extend(
            _check_leaf(
                entry,
                files,
                checkpoint.root_hash,
                checkpoint.size,
                document_id,
                verifier,
                timestamp,
            )
        )
    return BundleReport(document_id, checkpoint.size, timestamp, tuple(checks))


def _check_leaf(
    entry: dict[str, Any],
    files: dict[str, bytes],
    root: bytes,
    size: int,
    document_id: str,
    verifier: Verifier,
    at: datetime | None,
) -> list[BundleCheck]:
    index = entry.get("leaf_index")
    name = f"leaf {index}"
    try:
        proof = LeafProof.from_json(json.loads(files[str(entry["proof"])]))
        leaf = LeafRecord.decode(proof.record)
    except (KeyError, ValueError, TypeError, AttributeError, binascii.Error) as error:
        return [
            BundleCheck(name, False, f"the proof file is unreadable: {error}", "evidence-format")
        ]
    except EdxbusError as error:
        return [_failed(name, error)]
    if leaf_hash(proof.record) != proof.leaf_hash or proof.index != index:
        return [
            BundleCheck(
                name, False, "the record does not hash to the proven leaf", "evidence-altered"
            )
        ]
    if proof.tree_size != size:
        return [
            BundleCheck(
                name, False, "proven in another tree than the checkpoint's", "inclusion-proof"
            )
        ]
    try:
        verify_inclusion(proof.leaf_hash, proof.index, size, proof.proof, root)
    except EdxbusError as error:
        return [_failed(name, error)]
    if leaf.document_id != document_id:
        return [
            BundleCheck(name, False, f"the leaf is about {leaf.document_id}", "evidence-altered")
        ]
    checks = [
        BundleCheck(
            name,
            True,
            f"{leaf.decision.value} {leaf.kind} from {leaf.sender}, in the checkpoint's tree",
        )
    ]
    checks.append(
        _check_package(f"package {index}", files.get(str(entry.get("package"))), leaf, verifier, at)
    )
    return checks


def _check_package(
    name: str, data: bytes | None, leaf: LeafRecord, verifier: Verifier, at: datetime | None
) -> BundleCheck:
    if data is None:
        return BundleCheck(name, False, "the package file is missing", "evidence-format")
    if hashlib.sha256(data).hexdigest() != leaf.digest:
        return BundleCheck(
            name, False, "the bytes are not the ones the log recorded", "evidence-altered"
        )
    if leaf.decision is Decision.REFUSED:
        return BundleCheck(name, True, f"the exact bytes refused ({leaf.reason_code})")
    if at is None:
        return BundleCheck(name, False, "no trusted time to verify the signature at", "timestamp")
    try:
        verified = verifier.verify(data, at=at)
    except EdxbusError as error:
        return _failed(name, error)
    if verified.agency_code != leaf.sender:
        return BundleCheck(
            name, False, f"signed by {verified.agency_code}, not {leaf.sender}", "sender-mismatch"
        )
    return BundleCheck(
        name,
        True,
        f"signature of {verified.agency_code} verifies at {at.isoformat()}, chain and CRLs checked",
    )
