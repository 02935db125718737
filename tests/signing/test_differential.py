"""The profile verifier (lxml + cryptography) against the independent ones.

``Verifier`` checks edxbus's own signature form itself (``signing._profile``) and
hands every other form to signxml. These tests hold the two paths to the same
answer (accept, or the same named refusal, and the same signed bytes) and the
profile's cryptographic verdict (signature value and digest over the whole package)
to xmlsec1's and signxml's, on the hostile corpora and on generated packages.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

import edxml
import signing.verifier as verifier_module
from edxml import EdxbusError, EdxmlError, Mode
from signing import (
    CertificateExpiredError,
    CertificateRevokedError,
    DevPki,
    KeyType,
    Signer,
    SigningError,
    TrustStore,
    Verifier,
)
from signing._profile import in_profile, signature_parts, signed_info_from, verify_in_profile
from signing._xml import find_signatures, parse_package
from signing.verifier import _refuse_unsigned_content, read_signature_form
from tests.signing._packages import document, raw_sign

HERE = Path(__file__).resolve().parent
SIGNED_CORPUS = sorted((HERE / "hostile").glob("*.edxml"))
EDXML_CORPUS = sorted((HERE.parent / "data" / "hostile").glob("*.edxml"))
H41 = "000.00.00.H41"
DS = "http://www.w3.org/2000/09/xmldsig#"


def _outcome(verifier: Verifier, data: bytes) -> tuple[str, bytes]:
    """("ok", signed bytes) or (reason code, b"")."""
    try:
        verified = verifier.verify(data)
    except EdxbusError as error:
        return error.reason_code, b""
    return "ok", verified.signed_bytes


def _general(verifier: Verifier) -> Verifier:
    """The same trust and policy, every signature through signxml."""
    general = Verifier(verifier.trust, verifier.policy, limits=verifier.limits)
    general.use_profile = False
    return general


def _profile_verdict(data: bytes) -> bool | None:
    """The profile's cryptographic verdict on ``data`` with the certificate it carries
    (no chain, no policy), or None when the signature is not in the profile or the
    package is refused before any cryptography for what lies outside the root (an XML
    1.1 declaration, a processing instruction beside the root: the outside verifiers'
    known gaps, see test_independent.py)."""
    try:
        root = parse_package(data)
        _refuse_unsigned_content(root)
        namespaced, _ = find_signatures(root)
        if len(namespaced) != 1:
            return None
        signature = namespaced[0]
        form = read_signature_form(signature)
    except EdxbusError:
        return None
    parts = signature_parts(signature)
    if parts is None or not in_profile(
        signature, form.signature_algorithm, form.digest_algorithm, form.c14n
    ):
        return None
    try:
        verify_in_profile(root, signature, form.signature_algorithm, form.signer_certificate, parts)
    except SigningError:
        return False
    return True


def _signer_certificate(data: bytes) -> x509.Certificate:
    root = parse_package(data)
    return read_signature_form(find_signatures(root)[0][0]).signer_certificate


def _xmlsec1_verdict(data: bytes) -> bool:
    """xmlsec1 with the certificate in KeyInfo taken as is (``--insecure``: no chain)."""
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise RuntimeError("xmlsec1 is not installed: run scripts/ensure-tools.sh")
    with tempfile.NamedTemporaryFile(suffix=".xml") as handle:
        handle.write(data)
        handle.flush()
        result = subprocess.run(
            [binary, "--verify", "--insecure", handle.name],
            capture_output=True,
            timeout=60,
            check=False,
        )
    return result.returncode == 0


def _signxml_verdict(data: bytes) -> bool:
    """signxml with the carried certificate as the key, checked at a time it is valid."""
    try:
        cert = _signer_certificate(data)
        config = SignatureConfiguration(
            location=".//",
            expect_references=1,
            verification_time=cert.not_valid_before_utc + timedelta(seconds=1),
        )
        XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
    except Exception:  # any refusal, whatever its type, is a refusal
        return False
    return True


def _same_answer(verifier: Verifier, data: bytes) -> str:
    """Both paths agree; return the shared outcome."""
    fast, slow = _outcome(verifier, data), _outcome(_general(verifier), data)
    assert fast == slow
    return fast[0]


def _independent_agree(data: bytes) -> None:
    verdict = _profile_verdict(data)
    if verdict is None:
        return
    assert verdict == _xmlsec1_verdict(data), "xmlsec1 disagrees"
    assert verdict == _signxml_verdict(data), "signxml disagrees"


@pytest.fixture(scope="module")
def corpus_verifier() -> Verifier:
    hostile = HERE / "hostile"
    return Verifier(TrustStore.from_directory(hostile / "root.pem", [hostile / "crl.pem"]))


@pytest.mark.parametrize("path", SIGNED_CORPUS, ids=lambda p: p.stem)
def test_signed_corpus_both_paths_and_outside_verifiers(
    path: Path, corpus_verifier: Verifier
) -> None:
    data = path.read_bytes()
    outcome = _same_answer(corpus_verifier, data)
    assert outcome == path.name.split("--")[0].replace("valid", "ok")
    _independent_agree(data)


def test_profile_covers_what_edxbus_signs_and_nothing_weaker() -> None:
    """The genuine package is in the profile; the SHA-1 and XPath forms are not."""
    verdicts = {p.name.split("--")[0]: _profile_verdict(p.read_bytes()) for p in SIGNED_CORPUS}
    assert verdicts["valid"] is True
    assert verdicts["digest-mismatch"] is False
    assert verdicts["signature-mismatch"] is False
    assert verdicts["weak-algorithm"] is None
    assert verdicts["unsupported-algorithm"] is None


@pytest.mark.parametrize("path", EDXML_CORPUS, ids=lambda p: p.stem)
def test_edxml_corpus_unsigned_and_signed(
    path: Path, signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    """Each hostile EDXML file is refused alike by both paths; signed (where the signer
    will sign it), it gets the same answer from both paths and the outside verifiers."""
    data = path.read_bytes()
    assert _same_answer(verifier, data) != "ok"
    try:
        signed = signer_for(H41).sign(data, limits=edxml.Limits(large_text=False))
    except EdxbusError:
        return  # the signer refuses what it cannot read
    _same_answer(verifier, signed)
    _independent_agree(signed)


def _flip(data: bytes, position: int) -> bytes:
    flipped = bytearray(data)
    flipped[position] ^= 0x01
    return bytes(flipped)


def _with_comments(data: bytes) -> bytes:
    """Comments inside text fields and around the signature: outside what is signed."""
    return (
        data.replace(b"</edXML:Subject>", b"<!-- s -->x</edXML:Subject>", 1)
        .replace(b"<edXML:Content>", b"<edXML:Content><!-- c -->", 1)
        .replace(b"</edXML:edXMLHeader>", b"<!-- h --></edXML:edXMLHeader>", 1)
    )


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<&]"),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() == t and t != "")


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, int, bool, str, float]:
    return (
        draw(_TEXT),
        draw(st.sampled_from([0, 300, 5_000])),
        draw(st.booleans()),
        draw(st.sampled_from(["none", "flip", "value", "digest", "tail", "comment-in-signature"])),
        draw(st.floats(min_value=0.0, max_value=0.999)),
    )


def _other_base64_letter(signed: bytes, start_tag: bytes, skip: int) -> bytes:
    """The letter ``skip`` places into the first ``start_tag``'s base64 made another one:
    still well-formed base64, so only the cryptography can tell."""
    position = signed.index(start_tag) + len(start_tag) + skip
    other = b"A" if signed[position : position + 1] != b"A" else b"B"
    return signed[:position] + other + signed[position + 1 :]


def _mutate(signed: bytes, how: str, where: float) -> bytes:
    if how == "flip":
        start = signed.index(b"?>") + 2
        return _flip(signed, start + int(where * (len(signed) - start)))
    if how == "value":
        return _other_base64_letter(signed, b"<ds:SignatureValue>", 5)
    if how == "digest":
        return _other_base64_letter(signed, b"<ds:DigestValue>", 3)
    if how == "tail":
        return signed.replace(b"</ds:Signature>", b"</ds:Signature>\n   ", 1)
    if how == "comment-in-signature":
        return signed.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo><!-- x -->", 1)
    return signed


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_cases(), ecdsa=st.booleans())
def test_generated_packages(
    case: tuple[str, int, bool, str, float],
    ecdsa: bool,
    signer_for: Callable[[str], Signer],
    ec_signer: Signer,
    verifier: Verifier,
) -> None:
    subject, attachment, comments, how, where = case
    unsigned = document(subject=subject, attachment_size=attachment)
    if comments:
        unsigned = _with_comments(unsigned)
    signer = ec_signer if ecdsa else signer_for(H41)
    data = _mutate(signer.sign(unsigned), how, where)
    outcome = _same_answer(verifier, data)
    if how == "none":
        assert outcome == "ok"
    if how == "tail":  # the tail is not the signature's: it stays in what is digested
        assert outcome == "digest-mismatch"
    _independent_agree(data)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=_TEXT, comments=st.booleans(), attachment=st.sampled_from([0, 700]))
def test_read_is_verify_then_parse(
    subject: str, comments: bool, attachment: int, ec_signer: Signer, verifier: Verifier
) -> None:
    """``Verifier.read`` on the one tree gives what ``verify`` then ``edxml.parse`` of
    the signed bytes give, comments inside fields included (they are not signed)."""
    unsigned = document(subject=subject, attachment_size=attachment)
    if comments:
        unsigned = _with_comments(unsigned)
    signed = ec_signer.sign(unsigned)
    read = verifier.read(signed)
    verified = verifier.verify(signed)
    assert read.verified.signed_bytes == verified.signed_bytes
    assert read.parsed == edxml.parse(verified.signed_bytes, mode=Mode.STRICT)
    assert read.package.sender_code == read.verified.agency_code == H41


@pytest.fixture(scope="module")
def ec_signer(dev_pki: DevPki) -> Signer:
    dev_pki.issue(H41, slot="H41-ec-differential", key_type=KeyType.EC)
    return dev_pki.signer("H41-ec-differential")


def test_read_refuses_like_verify_then_parse(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    """A package that verifies but breaks an EDXML rule: the parse's named error; a
    package whose sender is not its signer: the sender mismatch."""
    root = etree.fromstring(document())  # the signer checks no EDXML rule
    subject = root.find(".//{http://www.mic.gov.vn/TBT/QCVN_102_2016}Subject")
    assert subject is not None
    subject.getparent().remove(subject)  # type: ignore[union-attr]
    signed = signer_for(H41).sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    with pytest.raises(EdxmlError) as via_read:
        verifier.read(signed)
    with pytest.raises(EdxmlError) as via_parse:
        edxml.parse(verifier.verify(signed).signed_bytes)
    assert type(via_read.value) is type(via_parse.value)
    assert str(via_read.value) == str(via_parse.value)
    other = signer_for("000.00.24.H44").sign(document(sender=H41))
    with pytest.raises(SigningError) as mismatch:
        verifier.read(other)
    assert mismatch.value.reason_code == "sender-mismatch"


def test_certificate_memo_follows_the_time(tmp_path: Path) -> None:
    """A remembered certificate is still refused at a time its memo does not cover:
    after its revocation date, after its expiry."""
    pki = DevPki.init(tmp_path / "pki")
    pki.issue(H41, "UBND")
    signed = pki.signer(H41).sign(document())
    now = datetime.now(UTC)
    pki.revoke(H41, at=now + timedelta(days=2))
    verifier = Verifier(pki.trust_store())
    assert verifier.verify(signed, at=now).agency_code == H41
    assert verifier.verify(signed, at=now + timedelta(days=1)).agency_code == H41
    with pytest.raises(CertificateRevokedError):
        verifier.verify(signed, at=now + timedelta(days=3))
    assert verifier.verify(signed, at=now).agency_code == H41
    with pytest.raises(CertificateExpiredError):
        verifier.verify(signed, at=now + timedelta(days=365 * 30))


def test_signature_shape_memo_still_reads_the_values(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    """Once a signer's shape is known, a package of the same shape with a value that is
    not canonical base64 is still refused with the form's own reason."""
    signed = signer_for(H41).sign(document())
    verifier.verify(signed)  # the shape is now remembered
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    end = signed.index(b"</ds:SignatureValue>")
    broken = signed[:start] + signed[start:end].rstrip(b"=") + b"!" + signed[end:]
    assert _same_answer(verifier, broken) == "malformed-signature"
    padded = signed[:start] + signed[start:end][:-4] + b"AB==" + signed[end:]
    assert _same_answer(verifier, padded) == "unsigned-content"


def test_known_shape_signed_info_from_its_template(
    signer_for: Callable[[str], Signer], verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a shape is known, SignedInfo's canonical bytes are put together from the
    shape's template and the package's own digest value: packages of that shape get
    the same answers as through signxml, whether the digest value is written plainly
    (the template), across lines (canonicalised the long way) or swapped for another
    package's (SignedInfo no longer what was signed)."""
    signer = signer_for(H41)
    first = signer.sign(document(number="11"))
    second = signer.sign(document(number="12", subject="Một văn bản khác"))
    assert _same_answer(verifier, first) == "ok"  # the shape is now remembered
    made: list[bytes] = []

    def from_template(template: tuple[bytes, bytes], digest_text: str) -> bytes:
        made.append(signed_info_from(template, digest_text))
        return made[-1]

    monkeypatch.setattr(verifier_module, "signed_info_from", from_template)
    assert _same_answer(verifier, second) == "ok"
    assert len(made) == 1  # the profile path took SignedInfo from the template
    assert _same_answer(verifier, first) == "ok"
    start = second.index(b"<ds:DigestValue>") + len(b"<ds:DigestValue>")
    end = second.index(b"</ds:DigestValue>")
    value = second[start:end]
    wrapped = second[:start] + value[:20] + b"\n" + value[20:] + second[end:]
    assert _same_answer(verifier, wrapped) == "signature-mismatch"
    other = first[first.index(b"<ds:DigestValue>") + len(b"<ds:DigestValue>") :]
    other_value = other[: other.index(b"</ds:DigestValue>")]
    swapped = second[:start] + other_value + second[end:]
    assert _same_answer(verifier, swapped) == "signature-mismatch"
    tampered = second.replace("văn bản khác".encode(), "văn bản khấc".encode())
    assert tampered != second
    assert _same_answer(verifier, tampered) == "digest-mismatch"


def test_xmlsec1_verifies_the_profile_tree_is_what_was_signed(
    signer_for: Callable[[str], Signer], verifier: Verifier, dev_pki: DevPki
) -> None:
    """What the profile hands on is exactly the signed content: re-signing nothing, the
    canonical bytes parse to the tree handed on."""
    signed = signer_for(H41).sign(_with_comments(document()))
    verified = verifier.verify(signed)
    again = etree.fromstring(verified.signed_bytes)
    assert etree.tostring(again, method="c14n") == etree.tostring(
        verified.signed_root, method="c14n"
    )
    assert verified.signed_root.find(f".//{{{DS}}}Signature") is None


@pytest.mark.parametrize(
    ("method", "digest", "c14n"),
    [
        ("rsa-sha256", "sha256", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        ("rsa-sha256", "sha512", "http://www.w3.org/2001/10/xml-exc-c14n#"),
        ("rsa-sha512", "sha256", "http://www.w3.org/2001/10/xml-exc-c14n#"),
        ("rsa-sha1", "sha1", "http://www.w3.org/2001/10/xml-exc-c14n#"),
        ("rsa-sha256", "sha256", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"),
    ],
)
def test_other_forms_go_to_signxml_with_the_same_answer(
    method: str, digest: str, c14n: str, dev_pki: DevPki, verifier: Verifier
) -> None:
    """Forms outside the profile are judged by signxml whichever the setting, as
    before; a later package of the profile from the same signer is not confused with
    them (the shape memo holds only profile shapes)."""
    signer = dev_pki.signer(H41)
    forged = raw_sign(
        _with_comments(document()),
        signer.key,
        [signer.certificate, *signer.chain],
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n=c14n,
    )
    assert _profile_verdict(forged) is None
    outcome = _same_answer(verifier, forged)
    assert outcome == ("weak-algorithm" if method == "rsa-sha1" else "ok")
    assert _same_answer(verifier, signer.sign(document())) == "ok"


def test_verify_tree_is_verify(signer_for: Callable[[str], Signer], verifier: Verifier) -> None:
    signed = signer_for(H41).sign(document())
    from_tree = verifier.verify_tree(edxml.safe_fromstring(signed))
    assert from_tree.signed_bytes == verifier.verify(signed).signed_bytes
