"""One verdict per package: every reader of signed bytes goes through one read path.

The same hostile and borderline packages go through ``bus.make_reader(settings).read``
directly, the router's check, the audit's re-verification, the SDK's receive check
(an inbox reader, and a client reading its inbox on the broker), and its pre-send
check (the publisher, and ``send()`` where a client can produce the package at
all). Every path accepts the same ones and refuses the others with the same
``reason_code``, a custom agency pattern in the settings included (the SDK and the
audit used to read with other options than the router).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agency_client import AgencyClient, NotAuthorisedError
from agency_client._connection import BusConnection
from agency_client._inbox_store import InboxStore
from agency_client._publisher import Publisher
from agency_client.credentials import load_reader
from agency_client.inbox import InboxReader
from agency_client.outbox import Outbox
from agency_client.tuning import ClientTuning
from bus import content_digest, make_reader
from bus.audit.model import LogRecord
from bus.audit.verify import audit_record
from bus.router.checker import PackageChecker, Unread
from bus.settings import Settings
from edxml import build
from edxml.errors import EdxbusError
from signing import DevPki
from tests.agency_client.helpers import (
    COMMUNE,
    DISTRICT,
    OTHER_PROVINCE,
    PROVINCE,
    deliver,
    make_document,
)

#: Only the province of Quảng Bình's codes (H44): OTHER_PROVINCE (H41) does not match.
H44_ONLY = r"^\d{3}\.\d{2}\.\d{2}\.H44$"
#: Small enough for a document with a long content to exceed it.
MAX_BYTES = 64 * 1024

ACCEPTED = "accepted"

#: What each package must read as, whichever path reads it.
EXPECTED = {
    "valid": ACCEPTED,
    "bad-signature": "digest-mismatch",
    "sender-not-signer": "sender-mismatch",
    "sender-outside-pattern": "invalid-agency-code",
    "oversized": "package-too-large",
}


@pytest.fixture
def rules(agency_pki: DevPki, tmp_path: Path) -> Settings:
    """Settings (no broker) with the dev PKI, a custom agency pattern, a small limit."""
    return Settings.of(
        home=tmp_path,
        pki=agency_pki.directory,
        agency_pattern=H44_ONLY,
        max_package_bytes=MAX_BYTES,
    )


def _packages(pki: DevPki) -> dict[str, tuple[str, str, bytes]]:
    """Case -> (DocumentId, claimed sender, signed bytes); all addressed to the district."""

    def signed(sender: str, *, signer: str | None = None, **kw: Any) -> tuple[str, str, bytes]:
        package = make_document(sender, [DISTRICT], **kw)
        return package.document_id, sender, pki.signer(signer or sender).sign(build(package))

    doc_id, sender, data = signed(PROVINCE)
    tampered = data.replace("Về việc".encode(), b"Ve viec", 1)
    assert tampered != data
    return {
        "valid": signed(PROVINCE),
        "bad-signature": (doc_id, sender, tampered),
        "sender-not-signer": signed(PROVINCE, signer=COMMUNE),
        "sender-outside-pattern": signed(OTHER_PROVINCE),
        "oversized": signed(PROVINCE, content="Nội dung dài. " * (MAX_BYTES // 8)),
    }


def _router_verdict(checker: PackageChecker, data: bytes) -> str:
    read = checker.read(data)
    return read.error.reason_code if isinstance(read, Unread) else ACCEPTED


def _audit_verdict(rules: Settings, data: bytes) -> str:
    record = LogRecord("edx.submit", 0, 0, datetime.now(UTC), b"k", data)
    audited = audit_record(record, make_reader(rules))
    return ACCEPTED if audited.verified else str(audited.reason_code)


def _verdict(check: Callable[[bytes], Any], data: bytes) -> str:
    try:
        check(data)
    except EdxbusError as exc:
        return exc.reason_code
    return ACCEPTED


def test_the_router_the_audit_and_the_sdk_give_one_verdict(
    rules: Settings, agency_pki: DevPki, tmp_path: Path
) -> None:
    packages = _packages(agency_pki)
    reader = make_reader(rules)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    store = InboxStore(tmp_path / "outbox.sqlite", group_commit=outbox.group_commit)
    try:
        inbox = InboxReader(
            agency=DISTRICT,
            consumer=None,
            reader=load_reader(rules),
            store=store,
            outbox=outbox,
            acknowledge_arrival=_never,
            on_change=lambda: None,
        )
        publisher = Publisher(
            rules,
            DISTRICT,
            signer=agency_pki.signer(DISTRICT),
            reader=load_reader(rules),
            outbox=outbox,
            connection=BusConnection(rules, DISTRICT, group_id="g", tuning=ClientTuning()),
            resubmit_after=300.0,
            publish_timeout=5.0,
        )
        checker = PackageChecker(
            make_reader(rules), max_package_bytes=rules.packages.max_package_bytes
        )
        for case, (_, _, data) in packages.items():
            verdicts = {
                "reader": _verdict(reader.read, data),
                "router": _router_verdict(checker, data),
                "audit": _audit_verdict(rules, data),
                "receive": _verdict(inbox.check, data),
                "pre-send": _verdict(publisher.check, data),
            }
            assert set(verdicts.values()) == {EXPECTED[case]}, (case, verdicts)
    finally:
        store.close()
        outbox.close()


def test_an_injected_verifier_reads_with_the_settings_pattern(
    rules: Settings, agency_pki: DevPki
) -> None:
    """A verifier given to the client (tests) keeps the deployment's package rules."""
    packages = _packages(agency_pki)
    injected = load_reader(rules, make_reader(rules).verifier)
    assert injected.agency_pattern == H44_ONLY
    _, _, outside = packages["sender-outside-pattern"]
    assert _verdict(injected.read, outside) == "invalid-agency-code"


@pytest.mark.kafka
async def test_a_client_on_the_broker_gives_the_same_verdicts(
    inbox_topics: Settings, agency_pki: DevPki
) -> None:
    settings = inbox_topics.with_overrides(agency_pattern=H44_ONLY, max_package_bytes=MAX_BYTES)
    packages = _packages(agency_pki)
    reader = make_reader(settings)
    for doc_id, sender, data in packages.values():
        await deliver(settings, DISTRICT, sender, doc_id, data)

    # Receiving: what is handed over and what is kept back, with its reason.
    async with AgencyClient(settings, DISTRICT) as client:
        taken = {item.digest for item in [i async for i in client.receive(idle_timeout=3)]}
        kept = {content_digest(q.data): q.reason_code for q in client.quarantined()}
    for case, (_, _, data) in packages.items():
        digest = content_digest(data)
        received = ACCEPTED if digest in taken else kept.get(digest, "missing")
        assert received == EXPECTED[case] == _verdict(reader.read, data), case

    # Sending: what a client can produce of these is refused before it is kept.
    async with AgencyClient(settings, OTHER_PROVINCE) as outside:
        document = make_document(OTHER_PROVINCE, [DISTRICT])
        with pytest.raises(EdxbusError) as refused:
            await outside.send(document)
        assert refused.value.reason_code == EXPECTED["sender-outside-pattern"]
        assert outside.pending() == []
    async with AgencyClient(settings, PROVINCE) as province:
        large = make_document(PROVINCE, [DISTRICT], content="Nội dung dài. " * (MAX_BYTES // 8))
        with pytest.raises(EdxbusError) as refused:
            await province.send(large)
        assert refused.value.reason_code == EXPECTED["oversized"]
        with pytest.raises(NotAuthorisedError):
            await province.send(make_document(COMMUNE, [DISTRICT]))
        assert province.pending() == []


async def _never(item: Any) -> None:
    raise AssertionError("nothing is acknowledged here")
