"""Custody signing: signed packages pass unchanged or are refused; unsigned ones are signed,
field quirks normalised (and recorded) or refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus import Settings
from edxml import Mode, build, parse
from gateway import Custody, NotPermittedError, PackageRefusedError, System
from signing import DevPki, Signer, Verifier
from tests.agency_client.helpers import make_document

PROVINCE = "000.00.00.H44"
DISTRICT = "000.00.24.H44"
NGHE_AN = "000.00.00.H41"


@pytest.fixture
def custody(dev_pki: DevPki, verifier: Verifier, tmp_path: Path) -> Custody:
    settings = Settings().with_overrides(home=tmp_path, pki=dev_pki.directory)
    return Custody(settings, verifier)


def _system(*agencies: str) -> System:
    return System("vp.test", frozenset(agencies))


def test_an_unsigned_strict_package_is_signed_for_its_agency(
    custody: Custody, verifier: Verifier
) -> None:
    unsigned = build(make_document(PROVINCE, [DISTRICT]))
    result = custody.take(unsigned, _system(PROVINCE))
    assert result.signed_here
    assert result.changes == ()
    assert verifier.verify(result.data).agency_code == PROVINCE


def test_a_package_signed_by_its_agency_travels_unchanged(
    custody: Custody, signer_for: object
) -> None:
    assert callable(signer_for)
    signer: Signer = signer_for(PROVINCE)
    signed = signer.sign(build(make_document(PROVINCE, [DISTRICT])), check_sender=True)
    result = custody.take(signed, _system(PROVINCE))
    assert result.data == signed
    assert not result.signed_here


def test_a_signature_that_does_not_verify_is_refused_with_its_reason(
    custody: Custody, other_pki: DevPki, signer_for: object
) -> None:
    impostor = other_pki.signer(NGHE_AN)
    signed = impostor.sign(build(make_document(NGHE_AN, [PROVINCE])), check_sender=True)
    with pytest.raises(PackageRefusedError, match="does not verify") as refused:
        custody.take(signed, _system(NGHE_AN))
    assert refused.value.cause_code != "package-refused"
    assert callable(signer_for)
    genuine = signer_for(PROVINCE).sign(
        build(make_document(PROVINCE, [DISTRICT], subject="Ve viec trien khai")), check_sender=True
    )
    tampered = genuine.replace(b"Ve viec trien khai", b"Ve viec trien khaI")
    assert tampered != genuine
    with pytest.raises(PackageRefusedError, match="does not verify"):
        custody.take(tampered, _system(PROVINCE))


def test_a_sender_the_system_does_not_serve_is_refused(custody: Custody) -> None:
    unsigned = build(make_document(PROVINCE, [DISTRICT]))
    with pytest.raises(NotPermittedError, match=r"does not act for agency 000\.00\.00\.H44"):
        custody.take(unsigned, _system(DISTRICT))


def test_a_field_status_package_is_normalised_recorded_and_signed(
    custody: Custody, verifier: Verifier, samples_dir: Path
) -> None:
    field = (samples_dir / "vxp-sdk" / "status.edxml").read_bytes()
    with pytest.raises(Exception):  # noqa: B017,PT011  (the strict reader refuses it as is)
        parse(field, mode=Mode.STRICT)
    result = custody.take(field, _system(NGHE_AN))
    assert result.signed_here
    assert any("unexpected-element" in change for change in result.changes)
    assert verifier.verify(result.data).agency_code == NGHE_AN
    assert parse(result.data, mode=Mode.STRICT).package.sender_code == NGHE_AN


def test_field_packages_that_cannot_be_normalised_are_refused(
    custody: Custody, samples_dir: Path
) -> None:
    unsigned = (samples_dir / "gateway" / "unsigned-three-attachments.edxml").read_bytes()
    with pytest.raises(PackageRefusedError, match="strict form") as refused:
        custody.take(unsigned, _system("vxp.saas.03"))
    assert refused.value.cause_code == "invalid-agency-code"
    signed_sha1 = (samples_dir / "vxp-sdk" / "edoc_new.edxml").read_bytes()
    with pytest.raises(PackageRefusedError, match="does not verify"):
        custody.take(signed_sha1, _system("002.00.20.H13"))


def test_a_pkcs12_bundle_signs_for_its_agency(
    dev_pki: DevPki, verifier: Verifier, tmp_path: Path
) -> None:
    pki = tmp_path / "pki"
    folder = pki / "agencies" / PROVINCE
    folder.mkdir(parents=True)
    dev_pki.export_pkcs12(PROVINCE, folder / "agency.p12", b"bundle-passphrase")
    (folder / "agency.p12.pass").write_bytes(b"bundle-passphrase\n")
    custody = Custody(Settings().with_overrides(home=tmp_path, pki=pki), verifier)
    result = custody.take(build(make_document(PROVINCE, [DISTRICT])), _system(PROVINCE))
    assert verifier.verify(result.data).agency_code == PROVINCE
    with pytest.raises(NotPermittedError, match="holds no signing key"):
        custody.take(build(make_document(DISTRICT, [PROVINCE])), _system(DISTRICT))
