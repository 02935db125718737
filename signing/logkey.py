"""The log's note-signing key, kept under the PKI directory (``$EDX_PKI/log/``).

Laid out beside the dev PKI so that an operator backs up one directory::

    PKI/log/note.key    the signer key string (PRIVATE+KEY+..., mode 0600)
    PKI/log/note.pub    the verifier key string agencies and auditors trust

The key is created on first use under the log's origin as its name; a later run
with a different origin refuses rather than sign under a name the key was not made
for.
"""

from __future__ import annotations

import os
from pathlib import Path

from signing.errors import PkiError
from signing.note import NoteSigner, NoteVerifier

__all__ = ["load_log_signer", "load_log_verifier", "log_key_paths"]


def log_key_paths(pki_dir: Path) -> tuple[Path, Path]:
    """Where the log's signer and verifier keys live under ``pki_dir``."""
    return pki_dir / "log" / "note.key", pki_dir / "log" / "note.pub"


def load_log_signer(pki_dir: Path, origin: str) -> NoteSigner:
    """The log's signer for ``origin``, created (with its verifier file) on first use."""
    key_path, pub_path = log_key_paths(pki_dir)
    if key_path.exists():
        signer = NoteSigner.from_string(key_path.read_text(encoding="ascii"))
        if signer.name != origin:
            raise PkiError(
                f"the log key in {key_path} is for {signer.name}, not for the origin {origin}"
            )
        return signer
    signer = NoteSigner.generate(origin)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(signer.to_string() + "\n")
    pub_path.write_text(signer.verifier().to_string() + "\n", encoding="ascii")
    return signer


def load_log_verifier(pki_dir: Path) -> NoteVerifier:
    """The log's verifier key, as agencies and auditors read it."""
    _, pub_path = log_key_paths(pki_dir)
    if not pub_path.exists():
        raise PkiError(f"no log verifier key at {pub_path}: the log has not run yet")
    return NoteVerifier.from_string(pub_path.read_text(encoding="ascii"))
