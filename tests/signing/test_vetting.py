"""The certificate memo's precomputed window answers as the checks it stands for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from signing import DevPki, VerificationPolicy
from signing._vetting import CertificateVetting

CODE = "000.00.00.H41"
REVOKED = "000.00.00.H42"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    pki = DevPki.init(Path(tmp_path_factory.mktemp("vetting")) / "pki")
    pki.issue(CODE, "UBND")
    pki.issue(REVOKED, "UBND")
    pki.revoke(REVOKED, at=datetime.now(UTC) + timedelta(days=10))
    return pki


POLICIES = [
    VerificationPolicy(),
    VerificationPolicy(check_revocation=False),
    VerificationPolicy(require_fresh_crl=True),
    VerificationPolicy(require_crl=True, clock_skew=timedelta(0)),
    VerificationPolicy(clock_skew=timedelta(hours=3)),
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("slot", [CODE, REVOKED])
def test_window_answers_as_the_long_way(pki: DevPki, policy: VerificationPolicy, slot: str) -> None:
    vetting = CertificateVetting(pki.trust_store(), policy)
    leaf = pki.certificate(slot)
    now = datetime.now(UTC)
    vetting.vet(leaf, (), now)
    (memo,) = vetting._memo.values()
    crl = pki.trust_store().crl_for(pki.issuer_cert)
    moments = {now, memo.valid_from, memo.valid_until}
    if memo.revoked_from is not None:
        moments.add(memo.revoked_from)
    if crl is not None and crl.next_update_utc is not None:
        moments.add(crl.next_update_utc)
    skews = (timedelta(0), policy.clock_skew, -policy.clock_skew)
    tiny = timedelta(microseconds=1)
    checked = 0
    for moment in moments:
        for skew in skews:
            for nudge in (-tiny, timedelta(0), tiny):
                at = moment + skew + nudge
                assert memo.holds_at(at, policy) == memo.holds_slowly(at, policy), at
                # A time in another zone takes the long way, with the same answer.
                local = at.astimezone(timezone(timedelta(hours=7)))
                assert memo.holds_at(local, policy) == memo.holds_slowly(at, policy)
                checked += 1
    assert checked >= 27
