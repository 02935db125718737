"""Refusals are steps of the trail, and tampering is caught with a named reason.

One document and its status are accepted; then every kind of refusal the router
makes goes through it: a refused replay (other bytes under the accepted DocumentId),
an empty record, bytes that are no XML, a broken signature, an unknown recipient, a
sender the signature does not bind, an unregistered sender and a status about no
known document. The tracker records them and the transparency log appends a leaf
for each decision. ``edx replay`` on that healthy system exits 0. Then one tracker
row, one stored leaf and finally ``edx.submit`` itself (deleted and rewritten) are
altered in turn: ``edx replay`` exits 3 naming each, and ``edx evidence`` refuses or
fails to verify the document's bundle with a named reason.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bus import LogSettings, Settings
from bus.tlog import LogService
from edxml import StatusCode
from signing import DevPki, Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_events,
    register,
    route,
    signed,
    status,
    submit,
)
from tests.fixtures.broker import unique_name
from tests.fixtures.demo import clean_env, run_edx
from tests.tampering import rewrite_submit_topic
from tests.tracker.kafka_helpers import record_all

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"
STRANGER = "000.00.00.H77"  # has a certificate, is not in the directory
ORIGIN = "edxbus.test/log"


def _broken_signature(data: bytes) -> bytes:
    start = data.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    letter = data[start + 10 : start + 11]
    return data[: start + 10] + (b"B" if letter == b"A" else b"A") + data[start + 11 :]


async def _route_everything(settings: Settings, signer_for: Callable[[str], Signer]) -> str:
    """Submit the accepted pair and one of each refusal; route them; the document's id."""
    await register(settings, signer_for, [CENTRAL, PROVINCE])
    signer_for(STRANGER)
    package = document(CENTRAL, [PROVINCE])
    data = signed(package, signer_for(CENTRAL))
    fields = {name: getattr(package, name) for name in package.__dataclass_fields__}
    other = package.__class__(**{**fields, "subject": "Nội dung khác"})
    orphan = document(CENTRAL, [PROVINCE])  # never submitted
    submissions: list[tuple[bytes | None, str, str]] = [
        (data, CENTRAL, "document"),
        (
            signed(status(PROVINCE, package, StatusCode.ARRIVED), signer_for(PROVINCE)),
            PROVINCE,
            "status",
        ),
        (signed(other, signer_for(CENTRAL)), CENTRAL, "document"),  # a refused replay
        (None, CENTRAL, "document"),
        (b"this is no package", CENTRAL, "document"),
        (
            _broken_signature(signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL))),
            CENTRAL,
            "document",
        ),
        (signed(document(CENTRAL, ["000.00.00.H98"]), signer_for(CENTRAL)), CENTRAL, "document"),
        (signed(document(PROVINCE, [CENTRAL]), signer_for(CENTRAL)), PROVINCE, "document"),
        (signed(document(STRANGER, [CENTRAL]), signer_for(STRANGER)), STRANGER, "document"),
        (
            signed(status(PROVINCE, orphan, StatusCode.ARRIVED), signer_for(PROVINCE)),
            PROVINCE,
            "status",
        ),
    ]
    for value, sender, kind in submissions:
        await submit(settings, value, sender=sender, kind=kind)
    async with quick_router(settings) as router:
        await route(router, len(submissions), within=120)
    return package.document_id


async def _record_and_log(settings: Settings, log_settings: LogSettings) -> int:
    """Let the tracker record every event and the log append and sign; the leaf count."""
    events = await read_events(settings)
    decisions = sum(e["kind"] != "DELIVERED" for e in events)
    await record_all(settings, len(events))
    loop = asyncio.get_running_loop()
    async with LogService(settings, log_settings) as service:
        deadline = loop.time() + 120
        while service.size < decisions:
            assert loop.time() < deadline, "the log missed decisions"
            await service.step()
        await service.checkpoint()
    return int(decisions)


def _db(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


async def test_refusals_of_every_kind_are_no_divergence_and_tampering_is_named(
    bus_settings: Settings,
    dev_pki: DevPki,
    signer_for: Callable[[str], Signer],
    tmp_path: Path,
) -> None:
    settings = bus_settings.with_overrides(pki=dev_pki.directory)
    log_settings = LogSettings(
        db_url=f"sqlite:///{tmp_path / 'log.db'}",
        origin=ORIGIN,
        topic=f"{unique_name()}.edx.checkpoints",
    )
    document_id = await _route_everything(settings, signer_for)
    leaves = await _record_and_log(settings, log_settings)
    assert leaves == 10  # two accepted, eight refused: each decision has its leaf
    env = clean_env(
        EDX_HOME=str(settings.home),
        EDX_BOOTSTRAP=settings.broker.bootstrap,
        EDX_PKI=str(dev_pki.directory),
        EDX_DB_URL=settings.resolved_db_url,
        EDX_LOG_DB_URL=log_settings.db_url,
        EDX_LOG_ORIGIN=ORIGIN,
        EDX_TOPIC_SUBMIT=settings.topics.submit,
        EDX_TOPIC_EVENTS=settings.topics.events,
    )

    async def replay() -> tuple[int, dict[str, Any]]:
        done = await asyncio.to_thread(
            run_edx, "replay", "--json", cwd=tmp_path, env=env, timeout=180
        )
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout)

    code, healthy = await replay()
    assert code == 0, json.dumps(healthy, indent=1)
    assert (healthy["packages"], healthy["verified"], healthy["divergences"]) == (10, 6, []), (
        healthy
    )  # an empty record, no XML, a broken signature, a sender not bound: unverified
    assert (healthy["log_leaves"], healthy["log_checkpoint"]) == (10, 10)
    assert healthy["producer_timed"] == 0  # each dated by its time-stamped checkpoint
    assert sum(healthy["refusals"].values()) == 8, healthy["refusals"]

    bundle = tmp_path / "evidence.zip"
    trust, key = dev_pki.root_cert_path, dev_pki.directory / "log" / "note.pub"

    async def evidence() -> tuple[int, str]:
        exported = await asyncio.to_thread(
            run_edx, "evidence", "export", document_id, "--out", str(bundle), cwd=tmp_path, env=env
        )
        if exported.returncode != 0:
            return exported.returncode, exported.stdout + exported.stderr
        checked = await asyncio.to_thread(
            run_edx,
            "evidence",
            "verify",
            str(bundle),
            "--trust",
            str(trust),
            "--log-key",
            str(key),
            cwd=tmp_path,
            env=clean_env(EDX_HOME=str(tmp_path / "x")),
        )
        return checked.returncode, checked.stdout + checked.stderr

    assert (await evidence())[0] == 0

    # One tracker row: the status step now names other bytes.
    tracker_db = _db(settings.resolved_db_url)
    with sqlite3.connect(tracker_db) as connection:
        (digest,) = connection.execute(
            "SELECT content_digest FROM history WHERE kind = 'STATUS'"
        ).fetchone()
        connection.execute(
            "UPDATE history SET content_digest = ? WHERE kind = 'STATUS'", ("0" * 64,)
        )
    code, altered = await replay()
    assert code == 3
    assert [d["kind"] for d in altered["divergences"]] == ["altered"], altered
    with sqlite3.connect(tracker_db) as connection:
        connection.execute("UPDATE history SET content_digest = ? WHERE kind = 'STATUS'", (digest,))
    assert (await replay())[0] == 0

    # One stored leaf: the refused replay attempt now reads as accepted.
    log_db = _db(log_settings.db_url)
    with sqlite3.connect(log_db) as connection:
        index, record = connection.execute(
            "SELECT leaf_index, record FROM tlog_leaves WHERE decision = 'refused' "
            "AND document_id = ?",
            (document_id,),
        ).fetchone()
        forged = bytes(record).replace(b'"decision":"refused"', b'"decision":"accepted"')
        connection.execute(
            "UPDATE tlog_leaves SET record = ? WHERE leaf_index = ?", (forged, index)
        )
    code, forged_log = await replay()
    assert code == 3
    whats = [d["what"] for d in forged_log["divergences"]]
    assert any(w.startswith("[leaf-altered]") for w in whats), whats
    code, said = await evidence()
    assert code != 0, said
    assert "FAIL leaf" in said, said
    assert "[evidence-altered]" in said, said
    with sqlite3.connect(log_db) as connection:
        connection.execute(
            "UPDATE tlog_leaves SET record = ? WHERE leaf_index = ?", (bytes(record), index)
        )
    assert (await replay())[0] == 0

    # Whoever runs the brokers rewrites edx.submit: deleted, recreated, other bytes in it.
    await rewrite_submit_topic(settings, records=10)
    code, rewritten = await replay()
    assert code == 3
    whats = [d["what"] for d in rewritten["divergences"]]
    assert any(w.startswith(("[package-altered]", "[package-missing]")) for w in whats), whats
    code, said = await evidence()
    assert code != 0, said
    assert "not the package the log recorded" in said or "no longer" in said, said
