"""Signed notes with Ed25519 keys, in the C2SP signed-note format (c2sp.org/signed-note).

The log's checkpoints travel as signed notes so that any implementation of the
format (Go's ``golang.org/x/mod/sumdb/note``, the witnesses of the CT ecosystem)
checks them without edxbus's code. A note is UTF-8 text ending in a newline, a
blank line, then one line per signature::

    — <key name> base64(<4-byte key id> || <64-byte Ed25519 signature>)

The key id is the first four bytes of SHA-256(name || "\\n" || 0x01 || public key).
Keys are written as the format's strings, which the Go package reads too:
``<name>+<hex key id>+base64(0x01 || public key)`` for a verifier and
``PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || seed)`` for a signer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from signing.tlog_errors import MalformedNoteError, NoteSignatureError

__all__ = ["Note", "NoteSignature", "NoteSigner", "NoteVerifier", "open_note", "sign_note"]

_ED25519 = 0x01
_DASH = "\u2014 "
_MAX_SIGNATURES = 100


def _check_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise MalformedNoteError(f"invalid note key name {name!r}: empty, '+' or whitespace")


def _key_id(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedNoteError(f"{what} is not valid base64") from error


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    @classmethod
    def from_string(cls, text: str) -> NoteVerifier:
        """Read a verifier key string ``name+hexid+base64(0x01 || key)``."""
        # base64 may hold '+': the key is everything after the second separator.
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise MalformedNoteError("a note verifier key has the form name+hexid+base64key")
        name, hex_id, encoded = parts
        _check_name(name)
        raw = _b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] != _ED25519:
            raise MalformedNoteError("the verifier key is not an Ed25519 key")
        try:
            key_id = int(hex_id, 16)
        except ValueError as error:
            raise MalformedNoteError("the verifier key id is not hexadecimal") from error
        if key_id != _key_id(name, raw[1:]):
            raise MalformedNoteError("the verifier key id does not match its name and key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def to_string(self) -> str:
        """The verifier key string that names, identifies and carries this key."""
        raw = bytes([_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id:08x}+{base64.b64encode(raw).decode()}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``text``."""
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A named Ed25519 private key that signs notes."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A fresh key under ``name``."""
        _check_name(name)
        key = Ed25519PrivateKey.generate()
        return cls(name, _key_id(name, _raw_public(key.public_key())), key)

    @classmethod
    def from_string(cls, text: str) -> NoteSigner:
        """Read a signer key string ``PRIVATE+KEY+name+hexid+base64(0x01 || seed)``."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedNoteError("a note signer key has the form PRIVATE+KEY+name+id+key")
        name, hex_id, encoded = parts[2:]
        _check_name(name)
        raw = _b64decode(encoded, "the signer key")
        if len(raw) != 33 or raw[0] != _ED25519:
            raise MalformedNoteError("the signer key is not an Ed25519 key")
        key = Ed25519PrivateKey.from_private_bytes(raw[1:])
        key_id = _key_id(name, _raw_public(key.public_key()))
        if hex_id != f"{key_id:08x}":
            raise MalformedNoteError("the signer key id does not match its name and key")
        return cls(name, key_id, key)

    def to_string(self) -> str:
        """The signer key string (secret: store it like a private key)."""
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        raw = base64.b64encode(bytes([_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{raw}"

    def verifier(self) -> NoteVerifier:
        """The matching public verifier."""
        return NoteVerifier(self.name, self.key_id, self.private_key.public_key())

    def sign(self, text: bytes) -> bytes:
        """The Ed25519 signature over the note text."""
        return self.private_key.sign(text)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: who, which key, what signature bytes."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """An opened note: its text and the signatures that were checked by a known key."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNoteError("a note's text must end with a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise MalformedNoteError("a note's text may hold no control characters but newlines")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    body = text.encode()
    lines = []
    for signer in signers:
        blob = signer.key_id.to_bytes(4, "big") + signer.sign(body)
        lines.append(f"{_DASH}{signer.name} {base64.b64encode(blob).decode()}\n")
    return (text + "\n" + "".join(lines)).encode()


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise MalformedNoteError("a note signature line must start with an em dash")
    fields = line[len(_DASH) :].split(" ")
    if len(fields) != 2:
        raise MalformedNoteError("a note signature line has the form '— name signature'")
    name, encoded = fields
    _check_name(name)
    blob = _b64decode(encoded, "a note signature")
    if len(blob) < 5:
        raise MalformedNoteError("a note signature is too short")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def open_note(data: bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Split a signed note, check every signature by a known key, return the text.

    Signatures by unknown keys are kept aside (a witness may cosign); a signature
    by a known key that does not verify, or no signature by any known key, raises
    :class:`NoteSignatureError`.
    """
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedNoteError("a signed note is not valid UTF-8") from error
    split = whole.rfind("\n\n")
    if split < 0 or not whole.endswith("\n"):
        raise MalformedNoteError("a signed note needs its text, a blank line and signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    _check_text(text)
    lines = block[:-1].split("\n")
    if not block.strip() or len(lines) > _MAX_SIGNATURES:
        raise MalformedNoteError("a signed note needs between 1 and 100 signature lines")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    body = text.encode()
    for line in lines:
        signature = _parse_signature(line)
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            unverified.append(signature)
        elif verifier.verify(body, signature.signature):
            verified.append(signature)
        else:
            raise NoteSignatureError(f"the signature of {signature.name} on the note is invalid")
    if not verified:
        names = ", ".join(sorted({name for name, _ in known})) or "no key"
        raise NoteSignatureError(f"the note carries no signature by {names}")
    return Note(text, tuple(verified), tuple(unverified))
