"""Checkpoints in the C2SP tlog-checkpoint format (c2sp.org/tlog-checkpoint).

A checkpoint is the log's signed statement "my tree of N leaves has this root".
Its body is the note text::

    <origin>                 the log's name, a schema-less URL (e.g. ``edxbus.example/log``)
    <tree size>              decimal, no leading zeros
    <root hash>              standard base64 of the 32-byte RFC 6962 root
    [<extension line>...]    optional, each non-empty

and it is signed as a C2SP signed note (:mod:`signing.note`) by the log's key, whose
name is the origin. Any checkpoint a party saw, together with a consistency proof,
lets it check that a later checkpoint extends it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from signing.merkle import HASH_SIZE
from signing.note import NoteSigner, NoteVerifier, open_note, sign_note
from signing.tlog_errors import MalformedCheckpointError, NoteSignatureError

__all__ = ["Checkpoint", "open_checkpoint", "sign_checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size and root hash (plus optional extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or any(ch.isspace() or ord(ch) < 0x20 for ch in self.origin):
            raise MalformedCheckpointError(f"invalid checkpoint origin {self.origin!r}")
        if self.size < 0:
            raise MalformedCheckpointError("a checkpoint's tree size cannot be negative")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpointError("a checkpoint's root hash must be 32 bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise MalformedCheckpointError("checkpoint extension lines must be non-empty")

    def to_text(self) -> str:
        """The checkpoint body, newline-terminated, as the note text."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode(),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint body (the text of an opened note)."""
        if not text.endswith("\n"):
            raise MalformedCheckpointError("a checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError("a checkpoint needs origin, size and root hash")
        origin, size_text, root_text, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit():
            raise MalformedCheckpointError(f"invalid checkpoint tree size {size_text!r}")
        if size_text != str(int(size_text)):
            raise MalformedCheckpointError("a checkpoint's tree size has no leading zeros")
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedCheckpointError("a checkpoint's root hash is not base64") from error
        if base64.b64encode(root).decode() != root_text:
            raise MalformedCheckpointError("a checkpoint's root hash is not canonical base64")
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> bytes:
    """The checkpoint as a signed note by the log's key."""
    return sign_note(checkpoint.to_text(), [signer])


def open_checkpoint(data: bytes, verifiers: Iterable[NoteVerifier]) -> Checkpoint:
    """Check the signed note by one of ``verifiers`` and read the checkpoint it carries.

    The checkpoint's origin must be the name of a key that verified it: a log's key
    vouches for its own origin only.
    """
    note = open_note(data, verifiers)
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin not in {signature.name for signature in note.verified}:
        raise NoteSignatureError(
            f"the checkpoint of {checkpoint.origin} is not signed by that log's key"
        )
    return checkpoint
