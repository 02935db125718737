"""``edx log audit``: the stored leaves, the signed checkpoints and Kafka must agree, and
each kind of tampering is named."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bus import audit_log
from bus.tlog import FindingKind
from signing import DevPki, leaf_hash
from tests.fixtures.demo import clean_env, run_edx
from tests.tampering import rewrite_submit_topic
from tests.tlog._routed import ORIGIN, RoutedLog

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _db(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


async def test_a_healthy_log_agrees_and_each_tampering_is_named(
    routed: RoutedLog, dev_pki: DevPki, tmp_path: Path
) -> None:
    settings = routed.settings
    healthy = await audit_log(settings, routed.log_settings)
    assert healthy.ok, healthy.findings
    assert (healthy.leaves, healthy.checkpoints) == (3, 1)
    env = clean_env(
        EDX_HOME=str(settings.home),
        EDX_BOOTSTRAP=settings.broker.bootstrap,
        EDX_PKI=str(dev_pki.directory),
        EDX_LOG_DB_URL=routed.log_settings.db_url,
        EDX_LOG_ORIGIN=ORIGIN,
        EDX_TOPIC_SUBMIT=settings.topics.submit,
        EDX_TOPIC_EVENTS=settings.topics.events,
    )
    done = await asyncio.to_thread(run_edx, "log", "audit", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 leaves, 1 checkpoints and the Kafka records they name agree" in done.stdout

    db = _db(routed.log_settings.db_url)
    with sqlite3.connect(db) as connection:
        (record,) = connection.execute(
            "SELECT record FROM tlog_leaves WHERE leaf_index = 1"
        ).fetchone()
        forged = bytes(record).replace(b'"decision":"accepted"', b'"decision":"refused"')
        assert forged != record
        connection.execute("UPDATE tlog_leaves SET record = ? WHERE leaf_index = 1", (forged,))
    altered = await audit_log(settings, routed.log_settings)
    assert {(f.kind, f.leaf_index) for f in altered.findings} >= {(FindingKind.LEAF_ALTERED, 1)}

    with sqlite3.connect(db) as connection:  # the hash recomputed too: history rewritten
        connection.execute(
            "UPDATE tlog_leaves SET leaf_hash = ? WHERE leaf_index = 1", (leaf_hash(forged),)
        )
    rewritten = await audit_log(settings, routed.log_settings)
    assert FindingKind.HISTORY_REWRITTEN in {f.kind for f in rewritten.findings}
    caught = await asyncio.to_thread(run_edx, "log", "audit", cwd=tmp_path, env=env)
    assert caught.returncode == 3
    assert "[history-rewritten]" in caught.stdout

    with sqlite3.connect(db) as connection:  # put the leaf back
        connection.execute(
            "UPDATE tlog_leaves SET record = ?, leaf_hash = ? WHERE leaf_index = 1",
            (bytes(record), leaf_hash(bytes(record))),
        )
    assert (await audit_log(settings, routed.log_settings)).ok

    with sqlite3.connect(db) as connection:  # the stored subtree over leaves 0-1
        (node,) = connection.execute(
            "SELECT hash FROM tlog_nodes WHERE level = 1 AND node_index = 0"
        ).fetchone()
        connection.execute(
            "UPDATE tlog_nodes SET hash = ? WHERE level = 1 AND node_index = 0", (b"\x01" * 32,)
        )
    bent = await audit_log(settings, routed.log_settings)
    assert {(f.kind, f.leaf_index) for f in bent.findings} == {(FindingKind.SUBTREE_ALTERED, 0)}
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE tlog_nodes SET hash = ? WHERE level = 1 AND node_index = 0", (node,)
        )
    assert (await audit_log(settings, routed.log_settings)).ok

    # Whoever runs the brokers rewrites edx.submit: deleted, recreated, other bytes in it.
    await rewrite_submit_topic(settings, records=3)
    topic_rewritten = await audit_log(settings, routed.log_settings)
    kinds = {f.kind for f in topic_rewritten.findings}
    assert kinds & {FindingKind.PACKAGE_ALTERED, FindingKind.PACKAGE_MISSING}
    assert not kinds & {FindingKind.LEAF_ALTERED, FindingKind.HISTORY_REWRITTEN}
