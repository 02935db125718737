"""Signing in edxbus's own form (lxml + cryptography) against signxml and the outside verifiers.

``Signer`` signs RSA-SHA256 and ECDSA-SHA256 itself (``signing._profile_sign``)
and hands any other method to signxml. For generated packages (odd layouts,
comments and processing instructions, end tags spelled inside comments and CDATA,
no trace list, attributes on the root, attachments small and large) the signature
it makes is the one signxml makes for the same key and package: the whole signed
package byte for byte for RSA (PKCS#1 v1.5 is deterministic), the same canonical
SignedInfo (so the same digest) for ECDSA; and xmlsec1, signxml's own verifier and
edxbus's verifier all accept it.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.verifier import SignatureConfiguration, XMLVerifier

from edxml import EdxbusError, Limits, PackageTooLargeError
from signing import DevPki, KeyType, SignatureAlgorithm, Signer, Verifier
from signing._xml import find_header, parse_package
from signing.signer import _HEADER_END, _TRACE_END, _in_place, _lands_in_place, _Place
from tests.signing._packages import DSIG, document, signature_element, strip_signature

H41 = "000.00.00.H41"
DS = {"ds": DSIG}
TRACE = re.compile(rb"\s*<edXML:TraceHeaderList>.*?</edXML:TraceHeaderList>", re.DOTALL)

#: What may stand beside the header's parts, decoys spelling the end tags the
#: splice looks for included (inside a comment, a processing instruction, CDATA).
_EXTRA = st.sampled_from(
    [
        "",
        " ",
        "\r\n",
        "\n\t  ",
        "<!-- ghi chú -->",
        "<?pi x?>",
        "<!-- </edXML:TraceHeaderList> -->",
        "<!--</edXML:edXMLHeader>-->",
        "<?decoy </edXML:TraceHeaderList></edXML:edXMLHeader>?>",
    ]
)
#: Places for those: before the envelope, around the trace list and the message
#: header, in the header (True: before the anchor, False: after it).
_ANCHORS = [
    (b"<edXML:edXMLEnvelope", True),
    (b"<edXML:edXMLHeader>", False),
    (b"</edXML:MessageHeader>", True),
    (b"<edXML:TraceHeaderList>", False),
    (b"</edXML:TraceHeaderList>", True),
    (b"</edXML:edXMLHeader>", True),
]
_SUBJECT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")
_ROOT_EXTRA = st.sampled_from(
    [
        b"",
        b' Id="package-1"',
        b' xmlns:ds="urn:example:not-xml-dsig"',
        b' xml:lang="vi"',
        b' xmlns:x="urn:example:x" x:note="a &amp; b"',
    ]
)


@st.composite
def packages(draw: st.DrawFn) -> bytes:
    """An unsigned package: generated content, layout, decoys, root attributes."""
    unsigned = document(
        subject=draw(_SUBJECT),
        attachment_size=draw(st.sampled_from([0, 300, 5_000, 60_000])),
    )
    if draw(st.booleans()):  # a subject spelling the end tags inside CDATA
        unsigned = unsigned.replace(
            b"</edXML:Subject>",
            b"<![CDATA[</edXML:TraceHeaderList></edXML:edXMLHeader>]]></edXML:Subject>",
            1,
        )
    if draw(st.booleans()):  # a status package's header: no trace list
        unsigned = TRACE.sub(b"", unsigned, count=1)
    places = []  # found before any insertion: a decoy spells an anchor
    for anchor, before in _ANCHORS:
        start = unsigned.find(anchor)
        if start >= 0:
            places.append(start if before else start + len(anchor))
    for place in sorted(places, reverse=True):
        unsigned = unsigned[:place] + draw(_EXTRA).encode() + unsigned[place:]
    root_extra: bytes = draw(_ROOT_EXTRA)
    return unsigned.replace(b"<edXML xmlns=", b"<edXML" + root_extra + b" xmlns=", 1)


def through_signxml(signer: Signer) -> Signer:
    """The same credentials, every signature made by signxml as before."""
    return dataclasses.replace(signer, use_profile=False)


def _canonical_signed_info(signed: bytes) -> bytes:
    signature = etree.fromstring(signed).find(f".//{{{DSIG}}}Signature")
    assert signature is not None
    signed_info = signature.find("ds:SignedInfo", DS)
    assert signed_info is not None
    return etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)


def _without_value(signed: bytes) -> bytes:
    return re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"<ds:SignatureValue/>", signed)


def xmlsec1_verifies(data: bytes, root_pem: Path) -> bool:
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise RuntimeError("xmlsec1 is not installed: run scripts/ensure-tools.sh")
    with tempfile.NamedTemporaryFile(suffix=".edxml") as handle:
        handle.write(data)
        handle.flush()
        result = subprocess.run(
            [binary, "--verify", "--trusted-pem", str(root_pem), handle.name],
            capture_output=True,
            timeout=60,
            check=False,
        )
    return result.returncode == 0


def signxml_verifies(data: bytes, signer: Signer) -> bool:
    config = SignatureConfiguration(
        location=".//",
        expect_references=1,
        verification_time=signer.certificate.not_valid_before_utc + timedelta(seconds=1),
    )
    try:
        XMLVerifier().verify(data, x509_cert=signer.certificate, expect_config=config)
    except Exception:  # any refusal, whatever its type, is a refusal
        return False
    return True


@pytest.fixture(scope="module")
def ec_signer(dev_pki: DevPki) -> Signer:
    dev_pki.issue(H41, slot="H41-ec-profile-sign", key_type=KeyType.EC)
    return dev_pki.signer("H41-ec-profile-sign")


def test_the_profile_signs_what_edxbus_signs_and_nothing_else(
    signer_for: Callable[[str], Signer], ec_signer: Signer
) -> None:
    rsa_signer = signer_for(H41)
    assert rsa_signer._profile is not None
    assert ec_signer._profile is not None
    other = Signer(rsa_signer.key, rsa_signer.certificate, algorithm=SignatureAlgorithm.RSA_SHA512)
    assert other._profile is None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(unsigned=packages(), ecdsa=st.booleans())
def test_generated_packages_sign_as_signxml_signs_and_verify_everywhere(
    unsigned: bytes,
    ecdsa: bool,
    signer_for: Callable[[str], Signer],
    ec_signer: Signer,
    verifier: Verifier,
    dev_pki: DevPki,
) -> None:
    signer = ec_signer if ecdsa else signer_for(H41)
    signed = signer.sign(unsigned)
    before = through_signxml(signer).sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    assert _canonical_signed_info(signed) == _canonical_signed_info(before)
    if ecdsa:
        assert _without_value(signed) == _without_value(before)
    else:
        assert signed == before
    assert verifier.verify(signed).agency_code == H41
    assert signxml_verifies(signed, signer)
    assert xmlsec1_verifies(signed, dev_pki.root_cert_path)


def test_ecdsa_value_is_r_and_s_of_the_curve_width(ec_signer: Signer) -> None:
    """XML-DSig's ECDSA value is r || s, 32 bytes each for P-256, not DER; the signature
    checks with the certificate's key over the canonical SignedInfo."""
    signed = ec_signer.sign(document())
    value_text = etree.fromstring(signed).findtext(f".//{{{DSIG}}}SignatureValue")
    assert value_text is not None
    value = base64.b64decode(value_text)
    assert len(value) == 64
    key = ec_signer.certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
    key.verify(
        encode_dss_signature(r, s), _canonical_signed_info(signed), ec.ECDSA(hashes.SHA256())
    )


@pytest.mark.parametrize("ecdsa", [False, True], ids=["rsa", "ecdsa"])
def test_the_outside_verifiers_here_refuse_a_changed_byte(
    ecdsa: bool, signer_for: Callable[[str], Signer], ec_signer: Signer, dev_pki: DevPki
) -> None:
    """The checks above can fail: one changed letter of the content, and both refuse."""
    signer = ec_signer if ecdsa else signer_for(H41)
    signed = signer.sign(document())
    changed = signed.replace(b"<edXML:Place>Vinh<", b"<edXML:Place>Vinx<", 1)
    assert changed != signed
    assert xmlsec1_verifies(signed, dev_pki.root_cert_path)
    assert not xmlsec1_verifies(changed, dev_pki.root_cert_path)
    assert signxml_verifies(signed, signer)
    assert not signxml_verifies(changed, signer)


def test_a_carried_chain_is_written_as_signxml_writes_it(
    signer_for: Callable[[str], Signer], dev_pki: DevPki, verifier: Verifier
) -> None:
    """Every certificate of the chain in ``X509Data``, leaf first, in the same bytes."""
    leaf = signer_for(H41)
    other = signer_for("000.00.24.H44").certificate
    with_chain = Signer(leaf.key, leaf.certificate, (other,))
    unsigned = document()
    signed = with_chain.sign(unsigned)
    assert signed == through_signxml(with_chain).sign(unsigned)
    certificates = etree.fromstring(signed).findall(
        ".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", DS
    )
    assert len(certificates) == 2
    assert verifier.verify(signed).agency_code == H41


def test_other_methods_are_still_signed_by_signxml(
    signer_for: Callable[[str], Signer], dev_pki: DevPki
) -> None:
    leaf = signer_for(H41)
    signer = Signer(leaf.key, leaf.certificate, algorithm=SignatureAlgorithm.RSA_SHA512)
    unsigned = document()
    signed = signer.sign(unsigned)
    assert signed == through_signxml(signer).sign(unsigned)
    assert SignatureAlgorithm.RSA_SHA512.value.encode() in signature_element(signed)
    assert signxml_verifies(signed, signer)
    assert xmlsec1_verifies(signed, dev_pki.root_cert_path)


@pytest.mark.parametrize("profile", [True, False], ids=["profile", "signxml"])
@pytest.mark.parametrize("size", [0, 60_000], ids=["small", "large"])
def test_a_signed_package_over_the_size_limit_is_refused_as_before(
    profile: bool, size: int, signer_for: Callable[[str], Signer]
) -> None:
    signer = dataclasses.replace(signer_for(H41), use_profile=profile)
    unsigned = document(attachment_size=size)
    with pytest.raises(PackageTooLargeError):
        signer.sign(unsigned, limits=Limits(max_package_bytes=len(unsigned) + 100))
    assert signer.sign(unsigned, limits=Limits(max_package_bytes=len(unsigned) + 10_000))


def _whole_read(signed: bytes, place: _Place) -> bool | str:
    """Where the signature landed, by parsing the whole package (the check as it was)."""
    try:
        return _in_place(parse_package(signed), place.index) is True
    except EdxbusError as error:
        return error.reason_code


def _short_read(signed: bytes, end: int, place: _Place) -> bool | str:
    try:
        return _lands_in_place(signed, end, place, None)
    except EdxbusError as error:
        return error.reason_code


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(unsigned=packages(), where=st.lists(st.floats(0.0, 0.999), max_size=8))
def test_where_the_signature_landed_read_up_to_it_is_the_whole_read(
    unsigned: bytes, where: list[float], signer_for: Callable[[str], Signer]
) -> None:
    """Only the bytes up to the signature are read again (closed by the header's,
    the envelope's and the root's end tags): at every candidate place of the splice
    (each spelling of the end tags, decoys included) and at arbitrary offsets, that
    check answers as the whole parse does."""
    signed = signer_for(H41).sign(unsigned)
    signature = signature_element(signed)
    root = parse_package(unsigned)
    header = find_header(root)
    place = _Place.of(
        header, header.find("{http://www.mic.gov.vn/TBT/QCVN_102_2016}TraceHeaderList")
    )
    end = signed.index(signature) + len(signature)
    short = parse_package(signed[:end] + place.closers)  # the short read is the one taken
    assert _in_place(short, place.index) is True
    candidates = {m.end() for m in _TRACE_END.finditer(unsigned)}
    candidates |= {m.start() for m in _HEADER_END.finditer(unsigned)}
    candidates |= {int(w * len(unsigned)) for w in where}
    for offset in sorted(candidates):
        candidate = unsigned[:offset] + signature + unsigned[offset:]
        answer = _short_read(candidate, offset + len(signature), place)
        assert answer == _whole_read(candidate, place)


_NS = b"http://www.mic.gov.vn/TBT/QCVN_102_2016"


def _respelled(unsigned: bytes, how: str) -> bytes:
    """The same package with the root, the envelope or the header named another way."""
    if how == "prefixed-root":
        unsigned = unsigned.replace(b"<edXML xmlns=", b'<e:edXML xmlns:e="' + _NS + b'" xmlns=', 1)
        return unsigned.replace(b"</edXML>", b"</e:edXML >", 1)
    if how == "unprefixed-header":
        unsigned = unsigned.replace(b"<edXML:edXMLHeader>", b"<edXMLHeader>", 1)
        return unsigned.replace(b"</edXML:edXMLHeader>", b"</edXMLHeader\n    >", 1)
    return unsigned


@pytest.mark.parametrize("how", ["prefixed-root", "unprefixed-header"])
@pytest.mark.parametrize("trace", [True, False], ids=["trace", "no-trace"])
def test_the_short_read_closes_the_elements_as_the_package_names_them(
    how: str, trace: bool, signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    unsigned = _respelled(document(attachment_size=60_000), how)
    if not trace:
        unsigned = TRACE.sub(b"", unsigned, count=1)
    root = parse_package(unsigned)
    header = find_header(root)
    trace_element = header.find("{http://www.mic.gov.vn/TBT/QCVN_102_2016}TraceHeaderList")
    assert (trace_element is not None) == trace
    place = _Place.of(header, trace_element)
    signer = signer_for(H41)
    signed = signer.sign(unsigned)
    assert signed == through_signxml(signer).sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    signature = signature_element(signed)
    end = signed.index(signature) + len(signature)
    assert _in_place(parse_package(signed[:end] + place.closers), place.index) is True
    assert verifier.verify(signed).agency_code == H41


EDXML_CORPUS = sorted((Path(__file__).resolve().parents[1] / "data" / "hostile").glob("*.edxml"))


def _sign_outcome(signer: Signer, data: bytes) -> tuple[str, bytes]:
    try:
        return "ok", signer.sign(data, limits=Limits(large_text=False))
    except EdxbusError as error:
        return type(error).__name__, b""


@pytest.mark.parametrize("path", EDXML_CORPUS, ids=lambda p: p.stem)
def test_hostile_packages_are_signed_or_refused_as_signxml_did(
    path: Path, signer_for: Callable[[str], Signer]
) -> None:
    """Each hostile EDXML file: the same named refusal, or the same signed bytes."""
    signer = signer_for(H41)
    data = path.read_bytes()
    assert _sign_outcome(signer, data) == _sign_outcome(through_signxml(signer), data)
