"""The router's checks alone: verdicts on real signed bytes against a directory in memory.

No broker: :class:`bus.router.checker.PackageChecker` is given the deployment's
read path and a directory, and says for each record whether it may be routed or
which named error refuses it, and who can be held to a refusal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bus.directory import Agency, AgencyDirectory, AgencyState
from bus.router.checker import BatchChecker, CheckedPackage, PackageChecker, Read, Refused, Unread
from bus.settings import Settings
from bus.verification import make_reader
from edxml import StatusCode, build
from signing import DevPki, Signer
from tests.bus.routing_helpers import document, signed, status

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
OTHER = "000.00.00.H44"


def _directory(signer_for: Callable[[str], Signer], *codes: str) -> AgencyDirectory:
    return AgencyDirectory(
        Agency.new(code, code, cert_fingerprints=[signer_for(code).fingerprint]) for code in codes
    )


@pytest.fixture
def checker(pki_dir: Path, tmp_path: Path) -> PackageChecker:
    settings = Settings.of(home=tmp_path, pki=pki_dir)
    return PackageChecker(
        make_reader(settings), max_package_bytes=settings.packages.max_package_bytes
    )


def _reason(outcome: CheckedPackage | Refused) -> tuple[str, str | None]:
    assert isinstance(outcome, Refused), outcome
    return outcome.error.reason_code, outcome.signer


def test_a_signed_document_to_known_agencies_is_checked(
    checker: PackageChecker, signer_for: Callable[[str], Signer]
) -> None:
    package = document(SENDER, [RECIPIENT])
    data = signed(package, signer_for(SENDER))
    outcome = checker.outcome(data, _directory(signer_for, SENDER, RECIPIENT))
    assert isinstance(outcome, CheckedPackage)
    assert outcome.sender == SENDER
    assert outcome.fingerprint == signer_for(SENDER).fingerprint
    assert outcome.package.document_id == package.document_id
    assert outcome.raw == data  # routed as submitted, byte for byte
    assert not outcome.is_status


def test_a_signed_status_is_checked_without_its_document(
    checker: PackageChecker, signer_for: Callable[[str], Signer]
) -> None:
    answered = document(SENDER, [RECIPIENT])
    data = signed(status(RECIPIENT, answered, StatusCode.ARRIVED), signer_for(RECIPIENT))
    outcome = checker.outcome(data, _directory(signer_for, SENDER, RECIPIENT))
    assert isinstance(outcome, CheckedPackage)
    assert outcome.is_status  # whether it may be sent is the decider's question


def test_refusals_name_their_reason_and_only_a_bound_signer(
    checker: PackageChecker, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    directory = _directory(signer_for, SENDER, RECIPIENT, OTHER)
    good = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    forger = DevPki.init(tmp_path / "forger")
    forger.issue(SENDER, "Forged")
    cases: list[tuple[bytes | None, tuple[str, str | None]]] = [
        (None, ("malformed-xml", None)),
        (b"", ("malformed-xml", None)),
        (b"<not-xml", ("malformed-xml", None)),
        (build(document(SENDER, [RECIPIENT])), ("no-signature", None)),
        (good.replace(b"UBND-VP", b"UBND-XX"), ("digest-mismatch", None)),
        # A key no trust anchor vouches for: nobody can be held to it.
        (
            forger.signer(SENDER).sign(build(document(SENDER, [RECIPIENT]))),
            ("untrusted-certificate", None),
        ),
        # Another agency's key, claiming the sender: a code someone else's key
        # claims is nobody's to be told about.
        (signed(document(SENDER, [OTHER]), signer_for(RECIPIENT)), ("sender-mismatch", None)),
        # Verified and bound: the sender is told its recipient is unknown.
        (
            signed(document(SENDER, ["000.00.00.Z99"]), signer_for(SENDER)),
            ("unknown-agency", SENDER),
        ),
    ]
    got = [_reason(checker.outcome(data, directory)) for data, _ in cases]
    assert got == [expected for _, expected in cases]


def test_the_directory_refuses_unlisted_certificates_and_suspended_agencies(
    checker: PackageChecker, signer_for: Callable[[str], Signer]
) -> None:
    data = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    unlisted = AgencyDirectory(
        [
            Agency.new(SENDER, SENDER, cert_fingerprints=["00" * 32]),
            Agency.new(RECIPIENT, RECIPIENT),
        ]
    )
    # The directory lists another certificate: the signature is bound to no one.
    assert _reason(checker.outcome(data, unlisted)) == ("certificate-not-listed", None)
    suspended = _directory(signer_for, SENDER, RECIPIENT)
    recipient = suspended.get(RECIPIENT)
    assert recipient is not None
    suspended = AgencyDirectory(
        [a for a in suspended if a.code != RECIPIENT]
        + [dataclasses.replace(recipient, state=AgencyState.SUSPENDED)]
    )
    assert _reason(checker.outcome(data, suspended)) == ("inactive-agency", SENDER)


def test_a_package_over_the_limit_is_refused_before_it_is_read(
    pki_dir: Path, tmp_path: Path, signer_for: Callable[[str], Signer]
) -> None:
    settings = Settings.of(home=tmp_path, pki=pki_dir, max_package_bytes=2000)
    small = PackageChecker(
        make_reader(settings), max_package_bytes=settings.packages.max_package_bytes
    )
    data = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    assert len(data) > 2000
    read = small.read(data)
    assert isinstance(read, Unread)
    assert read.error.reason_code == "package-too-large"


class _Following:
    """A followed directory that learns of ``late`` agencies only when refreshed."""

    def __init__(self, directory: AgencyDirectory, late: Sequence[Agency]) -> None:
        self.directory = directory
        self._late = list(late)
        self.refreshes = 0

    async def refresh(self) -> AgencyDirectory:
        self.refreshes += 1
        self.directory = AgencyDirectory([*self.directory, *self._late])
        return self.directory


class _Pool:
    """Worker processes, played in this process: reads exactly as the checker does."""

    def __init__(self, checker: PackageChecker) -> None:
        self.checker = checker
        self.ready = True
        self.reads = 0

    async def start(self) -> set[int]:
        return {0}

    async def read(self, values: Sequence[bytes | None]) -> list[Read | Unread]:
        self.reads += len(values)
        return [self.checker.read(v) for v in values]

    def close(self) -> None:
        self.ready = False


@pytest.mark.parametrize("on_workers", [False, True])
async def test_a_batch_keeps_its_order_and_reads_the_directory_again_before_refusing(
    checker: PackageChecker, signer_for: Callable[[str], Signer], on_workers: bool
) -> None:
    # OTHER registered a moment ago: the follower has not applied its record yet.
    known = _directory(signer_for, SENDER, RECIPIENT, OTHER)
    other = known.get(OTHER)
    assert other is not None
    following = _Following(_directory(signer_for, SENDER, RECIPIENT), [other])
    packages = [document(SENDER, [RECIPIENT]) for _ in range(5)]
    values: list[bytes | None] = [signed(p, signer_for(SENDER)) for p in packages]
    late = document(SENDER, [OTHER])
    values.insert(2, signed(late, signer_for(SENDER)))
    values.insert(4, None)
    pool = _Pool(checker) if on_workers else None
    batch = BatchChecker(checker, following, pool, threads=3)
    outcomes = await batch.check(values)
    ids = [o.package.document_id if isinstance(o, CheckedPackage) else None for o in outcomes]
    expected = [p.document_id for p in packages]
    expected.insert(2, late.document_id)
    expected.insert(4, None)
    assert ids == expected  # in batch order, the late agency's package checked after all
    assert following.refreshes == 1
    assert batch.workers_ready is on_workers
    if pool is not None:
        assert pool.reads == len(values)
    await batch.close()
    assert not batch.workers_ready
