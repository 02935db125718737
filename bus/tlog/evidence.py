"""Evidence bundles: everything an auditor needs about one document, in one zip file.

``edx evidence export DOCUMENT_ID --out FILE.zip`` writes (see docs/AUDIT.md)::

    manifest.json            what each file is, its SHA-256, which leaf it belongs to
    checkpoint               the log's signed checkpoint (C2SP signed note)
    checkpoint.tsr           the RFC 3161 time-stamp reply over ``checkpoint``
    log.pub                  the log's note verifier key (for reading; trust your own copy)
    packages/N-KIND-DECISION.edxml   each package of the document, the exact bytes submitted
    proofs/N.json            leaf N's canonical record and its inclusion proof
    certs/*.pem              each accepted package's signer certificate and its chain
    crls/*.pem               the CRLs current when each package was accepted (the log's
                             archive; those of export time for a package accepted before
                             the log kept one), named by digest and listed per leaf

Leaf ``N`` is the log's leaf index. Every package of the document is there: the
document, each status, each refused submission; the exact bytes come from
``edx.submit`` at the coordinates the leaf names, and must hash to the leaf's digest.
The checkpoint is the latest one that carries a time-stamp token, so the bundle
proves both what the log held and when.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.structs import TopicPartition
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from bus.kafka import make_consumer, started, translate_errors
from bus.records import content_digest
from bus.settings import Settings
from bus.tlog.crls import CrlArchive, current_crl_files
from bus.tlog.errors import EvidenceError, NoCheckpointError
from bus.tlog.leaf import Decision, LeafRecord
from bus.tlog.proofs import LeafProof, log_store, prove_leaves
from bus.tlog.settings import LogSettings
from bus.verification import make_verifier
from edxml.errors import EdxbusError
from signing import load_log_verifier, open_checkpoint

__all__ = ["BUNDLE_FORMAT", "ExportedBundle", "export_evidence"]

#: The ``format`` of a bundle's manifest.
BUNDLE_FORMAT = "edxbus-evidence/1"


@dataclass(frozen=True)
class ExportedBundle:
    """What an export wrote."""

    path: Path
    document_id: str
    tree_size: int
    packages: int
    refused: int


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _cert_name(cert: x509.Certificate) -> str:
    return f"certs/{cert.fingerprint(hashes.SHA256()).hex()[:16]}.pem"


async def _fetch_packages(settings: Settings, leaves: list[LeafRecord]) -> list[bytes]:
    """The exact bytes at each leaf's ``edx.submit`` coordinates, checked against its digest."""
    found: list[bytes] = []
    async with started(make_consumer(settings), "reading edx.submit") as consumer:
        for leaf in leaves:
            tp = TopicPartition(leaf.submit.topic, leaf.submit.partition)
            with translate_errors("reading edx.submit"):
                consumer.assign([tp])
                consumer.seek(tp, leaf.submit.offset)
                batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
            records = [r for r in batch.get(tp, []) if r.offset == leaf.submit.offset]
            if not records:
                raise EvidenceError(
                    f"the package of leaf {leaf.event_id} is no longer at "
                    f"{leaf.submit.topic}/{leaf.submit.partition}/{leaf.submit.offset}"
                )
            value = records[0].value or b""
            if content_digest(value) != leaf.digest:
                raise EvidenceError(
                    f"the record at {leaf.submit.topic}/{leaf.submit.partition}/"
                    f"{leaf.submit.offset} is not the package the log recorded (digest differs)"
                )
            found.append(value)
    return found


def _crl_pem(der: bytes) -> bytes:
    return x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)


def _crl_name(pem: bytes) -> str:
    return f"crls/{hashlib.sha256(pem).hexdigest()[:16]}.pem"


async def export_evidence(
    settings: Settings,
    document_id: str,
    out: Path,
    log_settings: LogSettings | None = None,
) -> ExportedBundle:
    """Write the evidence bundle of ``document_id`` to ``out`` (a zip file)."""
    verifier_key = load_log_verifier(settings.resolved_pki)
    with log_store(settings, log_settings) as store:
        archive = CrlArchive(store.engine)
        size = store.latest_timestamped_size()
        stored = None if size is None else store.checkpoint(size)
        if stored is None or stored.timestamp_token is None:
            raise NoCheckpointError("the log has no time-stamped checkpoint yet")
        checkpoint = open_checkpoint(stored.note, [verifier_key])
        leaves = [leaf for leaf in store.leaves_of(document_id) if leaf.index < checkpoint.size]
        if not leaves:
            raise EvidenceError(
                f"the log's latest time-stamped checkpoint covers no leaf of {document_id}"
            )
        proofs = prove_leaves(store, leaves, checkpoint)
        records = [LeafRecord.decode(p.record) for p in proofs]
        as_of = [[_crl_pem(der) for der in archive.current_at(leaf.decided_at)] for leaf in records]
    at_export = current_crl_files(settings)
    packages = await _fetch_packages(settings, records)
    verifier = make_verifier(settings)
    files: dict[str, bytes] = {
        "checkpoint": stored.note,
        "checkpoint.tsr": stored.timestamp_token,
        "log.pub": (verifier_key.to_string() + "\n").encode(),
    }
    entries = []
    for proof, leaf, package, crls in zip(proofs, records, packages, as_of, strict=True):
        crl_source = "acceptance" if crls else "export"
        crl_names = []
        for pem in crls or at_export:
            files.setdefault(_crl_name(pem), pem)
            crl_names.append(_crl_name(pem))
        name = f"packages/{proof.index}-{leaf.kind}-{leaf.decision.value}.edxml"
        files[name] = package
        files[f"proofs/{proof.index}.json"] = _proof_file(proof)
        certs: list[str] = []
        signature = "not checked: refused by the router"
        try:
            verified = verifier.verify(package, at=leaf.decided_at)
        except EdxbusError as error:
            if leaf.decision is Decision.ACCEPTED:
                signature = f"does not verify now: {error.reason_code}"
            else:
                signature = f"refused: {error.reason_code}"
        else:
            signature = "verified at export"
            for cert in (verified.certificate, *verified.chain):
                cert_name = _cert_name(cert)
                files.setdefault(cert_name, _pem(cert))
                if cert_name not in certs:
                    certs.append(cert_name)
        entries.append(
            {
                "leaf_index": proof.index,
                "decision": leaf.decision.value,
                "kind": leaf.kind,
                "reason_code": leaf.reason_code,
                "sender": leaf.sender,
                "digest": leaf.digest,
                "package": name,
                "proof": f"proofs/{proof.index}.json",
                "certificates": certs,
                "crls": crl_names,
                "crls_as_of": crl_source,
                "signature_at_export": signature,
            }
        )
    manifest = {
        "format": BUNDLE_FORMAT,
        "document_id": document_id,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "leaves": entries,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name, data in sorted(files.items()):
            bundle.writestr(name, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(buffer.getvalue())
    partial.replace(out)
    refused = sum(1 for leaf in records if leaf.decision is Decision.REFUSED)
    return ExportedBundle(out, document_id, checkpoint.size, len(packages), refused)


def _proof_file(proof: LeafProof) -> bytes:
    return (json.dumps(proof.as_json(), indent=2) + "\n").encode()
