"""C2SP signed notes and tlog checkpoints: round trips, key strings, and named refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signing import (
    Checkpoint,
    MalformedCheckpointError,
    MalformedNoteError,
    NoteSignatureError,
    NoteSigner,
    NoteVerifier,
    PkiError,
    load_log_signer,
    load_log_verifier,
    log_key_paths,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)

ORIGIN = "edxbus.test/log"


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def test_key_strings_round_trip(signer: NoteSigner) -> None:
    again = NoteSigner.from_string(signer.to_string())
    assert again.key_id == signer.key_id
    assert again.verifier().to_string() == signer.verifier().to_string()
    verifier = NoteVerifier.from_string(signer.verifier().to_string())
    assert verifier.name == ORIGIN
    assert signer.to_string().startswith(f"PRIVATE+KEY+{ORIGIN}+{signer.key_id:08x}+")


def test_a_tampered_key_string_is_refused(signer: NoteSigner) -> None:
    name, key_id, key = signer.verifier().to_string().split("+", 2)
    with pytest.raises(MalformedNoteError, match="key id"):
        NoteVerifier.from_string(f"other.test/log+{key_id}+{key}")
    with pytest.raises(MalformedNoteError):
        NoteVerifier.from_string(f"{name}+{key_id}")


sizes = st.integers(0, 2**63 - 1)
roots = st.binary(min_size=32, max_size=32)
extension_lines = st.lists(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF), min_size=1, max_size=20),
    max_size=3,
)


@given(sizes, roots, extension_lines)
def test_checkpoints_round_trip_through_a_signed_note(
    size: int, root: bytes, extensions: list[str]
) -> None:
    signer = NoteSigner.from_string(_SIGNER)
    checkpoint = Checkpoint(ORIGIN, size, root, tuple(extensions))
    note = sign_checkpoint(checkpoint, signer)
    assert open_checkpoint(note, [signer.verifier()]) == checkpoint


_SIGNER = NoteSigner.generate(ORIGIN).to_string()


def test_the_note_layout_is_the_c2sp_one(signer: NoteSigner) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, b"\x01" * 32), signer).decode()
    text, signatures = note.split("\n\n")
    assert text == f"{ORIGIN}\n5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    assert signatures.startswith(f"\u2014 {ORIGIN} ")
    assert signatures.endswith("\n")


def test_a_changed_checkpoint_fails_its_signature(signer: NoteSigner) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, b"\x01" * 32), signer)
    forged = note.replace(b"\n5\n", b"\n6\n")
    with pytest.raises(NoteSignatureError, match="invalid"):
        open_checkpoint(forged, [signer.verifier()])


def test_a_note_by_an_unknown_key_is_refused(signer: NoteSigner) -> None:
    other = NoteSigner.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, b"\x02" * 32), other)
    with pytest.raises(NoteSignatureError, match="no signature"):
        open_checkpoint(note, [signer.verifier()])


def test_a_log_key_vouches_only_for_its_own_origin() -> None:
    key = NoteSigner.generate("another.test/log")
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, b"\x02" * 32), key)
    with pytest.raises(NoteSignatureError, match="not signed by that log"):
        open_checkpoint(note, [key.verifier()])


def test_cosignatures_by_unknown_keys_are_kept_aside(signer: NoteSigner) -> None:
    witness = NoteSigner.generate("witness.test")
    note = sign_note("hello\n", [signer, witness])
    opened = open_note(note, [signer.verifier()])
    assert opened.text == "hello\n"
    assert [s.name for s in opened.unverified] == ["witness.test"]


@pytest.mark.parametrize(
    "body",
    [
        "no blank line\n\u2014 x AAAA\n".encode(),
        b"text\n\nnot a signature line\n",
        b"text\n\n\xe2\x80\x94 name not-base64!\n",
        b"text\n\n",
        b"\xff\xfe\n\n",
    ],
)
def test_malformed_notes_are_named(signer: NoteSigner, body: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(body, [signer.verifier()])


@pytest.mark.parametrize(
    "text",
    [
        "origin\n5\n",
        "origin\n05\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
        "origin\n-5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
        "origin\n5\nAQEB\n",
        "origin\n5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "\n5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
        "origin\n5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n",
    ],
)
def test_malformed_checkpoints_are_named(text: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint.parse(text)


def test_the_log_key_is_created_once_under_the_pki(tmp_path: Path) -> None:
    signer = load_log_signer(tmp_path, ORIGIN)
    key_path, pub_path = log_key_paths(tmp_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert load_log_signer(tmp_path, ORIGIN).to_string() == signer.to_string()
    assert load_log_verifier(tmp_path).to_string() == signer.verifier().to_string()
    assert pub_path.read_text().strip() == signer.verifier().to_string()
    with pytest.raises(PkiError, match="not for the origin"):
        load_log_signer(tmp_path, "other.test/log")
