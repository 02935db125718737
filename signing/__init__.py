"""XML signatures, agency certificates, trust anchors, revocation and the dev PKI.

A pure library over lxml, ``cryptography`` and ``signxml``: files in, bytes out.
Sign with a :class:`Signer` loaded once; verify with a :class:`Verifier` built once
over a :class:`TrustStore` and a :class:`VerificationPolicy`; act only on the
:class:`VerifiedPackage` it returns. The agency code sits in the certificate
subject's ``UID`` attribute (see ``docs/SIGNING.md``).

The transparency log's pure parts live here too: RFC 6962/9162 Merkle hashing and
proofs (``merkle``), C2SP signed notes and checkpoints (``note``, ``checkpoint``),
the log's key under the PKI directory (``logkey``); see ``docs/AUDIT.md``.
"""

from edxml.errors import SigningError
from signing.certificates import (
    AGENCY_CODE_OID,
    agency_code_of,
    certificate_fingerprint,
    check_signing_usage,
    load_certificate_file,
    load_private_key,
)
from signing.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from signing.devpki import DevPki, IssuedAgency, KeyType
from signing.errors import (
    AlreadySignedError,
    CertificateError,
    CertificateExpiredError,
    CertificateRevokedError,
    CredentialError,
    DigestMismatchError,
    KeyMismatchError,
    KeyUsageError,
    MalformedSignatureError,
    NoSignatureError,
    PkiError,
    RevocationUnknownError,
    SenderMismatchError,
    SignatureValueError,
    SignatureWrappingError,
    UnboundCertificateError,
    UnnamespacedSignatureError,
    UnsignedContentError,
    UnsupportedAlgorithmError,
    UntrustedCertificateError,
    WeakAlgorithmError,
)
from signing.logkey import load_log_signer, load_log_verifier, log_key_paths
from signing.merkle import (
    Frontier,
    LeafHashes,
    NodeId,
    consistency_proof,
    consistency_ranges,
    inclusion_path_ranges,
    inclusion_proof,
    leaf_hash,
    node_hash,
    peak_ids,
    root_hash,
    subtree_hash,
    subtree_ids,
    verify_consistency,
    verify_inclusion,
)
from signing.note import Note, NoteSignature, NoteSigner, NoteVerifier, open_note, sign_note
from signing.policy import (
    Canonicalization,
    DigestAlgorithm,
    SignatureAlgorithm,
    VerificationPolicy,
)
from signing.signer import Signer
from signing.tlog_errors import (
    ConsistencyProofError,
    InclusionProofError,
    MalformedCheckpointError,
    MalformedNoteError,
    NoteSignatureError,
    TimestampError,
    TransparencyError,
)
from signing.trust import TrustStore
from signing.tsa import (
    DevTsa,
    TimestampInfo,
    timestamp_request,
    verify_timestamp,
)
from signing.verifier import (
    ReadPackage,
    SignatureForm,
    VerifiedPackage,
    Verifier,
    read_signature_form,
)

__all__ = [
    "AGENCY_CODE_OID",
    "AlreadySignedError",
    "Canonicalization",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateRevokedError",
    "Checkpoint",
    "ConsistencyProofError",
    "CredentialError",
    "DevPki",
    "DevTsa",
    "DigestAlgorithm",
    "DigestMismatchError",
    "Frontier",
    "InclusionProofError",
    "IssuedAgency",
    "KeyMismatchError",
    "KeyType",
    "KeyUsageError",
    "LeafHashes",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MalformedSignatureError",
    "NoSignatureError",
    "NodeId",
    "Note",
    "NoteSignature",
    "NoteSignatureError",
    "NoteSigner",
    "NoteVerifier",
    "PkiError",
    "ReadPackage",
    "RevocationUnknownError",
    "SenderMismatchError",
    "SignatureAlgorithm",
    "SignatureForm",
    "SignatureValueError",
    "SignatureWrappingError",
    "Signer",
    "SigningError",
    "TimestampError",
    "TimestampInfo",
    "TransparencyError",
    "TrustStore",
    "UnboundCertificateError",
    "UnnamespacedSignatureError",
    "UnsignedContentError",
    "UnsupportedAlgorithmError",
    "UntrustedCertificateError",
    "VerificationPolicy",
    "VerifiedPackage",
    "Verifier",
    "WeakAlgorithmError",
    "agency_code_of",
    "certificate_fingerprint",
    "check_signing_usage",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_path_ranges",
    "inclusion_proof",
    "leaf_hash",
    "load_certificate_file",
    "load_log_signer",
    "load_log_verifier",
    "load_private_key",
    "log_key_paths",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "peak_ids",
    "read_signature_form",
    "root_hash",
    "sign_checkpoint",
    "sign_note",
    "subtree_hash",
    "subtree_ids",
    "timestamp_request",
    "verify_consistency",
    "verify_inclusion",
    "verify_timestamp",
]
