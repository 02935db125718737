"""The agency's checkpoint watcher: a log that only grows passes, a rewritten one raises."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from agency_client import CheckpointWatcher, LogRewrittenError
from bus import (
    CONSISTENCY_FROM_HEADER,
    CONSISTENCY_PROOF_HEADER,
    LogSettings,
    Settings,
    ensure_topics,
    make_producer,
)
from bus.lifecycle import EventKind
from bus.tlog import LogService
from signing import (
    Checkpoint,
    DevPki,
    NoteSigner,
    consistency_proof,
    leaf_hash,
    load_log_signer,
    load_log_verifier,
    root_hash,
    sign_checkpoint,
)
from tests.fixtures.broker import unique_name
from tests.fixtures.demo import clean_env, run_edx
from tests.tlog._events import event
from tests.tlog._feed import log_db, produce_events

ORIGIN = "edxbus.test/log"


def _tree(records: list[bytes]) -> list[bytes]:
    return [leaf_hash(r) for r in records]


def _note(signer: NoteSigner, leaves: list[bytes], size: int) -> bytes:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root_hash(leaves[:size])), signer)


def _headers(leaves: list[bytes], old: int, new: int) -> list[tuple[str, bytes]]:
    proof = consistency_proof(old, new, leaves)
    return [
        (CONSISTENCY_FROM_HEADER, str(old).encode()),
        (CONSISTENCY_PROOF_HEADER, b"".join(proof)),
    ]


HONEST = _tree([f"leaf {n}".encode() for n in range(12)])
FORGED = _tree([f"leaf {n}".encode() if n != 4 else b"rewritten" for n in range(12)])


async def test_a_growing_log_advances_the_watcher_and_a_rewrite_raises(tmp_path: Path) -> None:
    signer = NoteSigner.generate(ORIGIN)
    state = tmp_path / "watch" / "latest.note"
    watcher = CheckpointWatcher(signer.verifier(), state_path=state)
    assert await watcher.observe(_note(signer, HONEST, 5)) is not None
    advanced = await watcher.observe(_note(signer, HONEST, 8), _headers(HONEST, 5, 8))
    assert advanced is not None
    assert advanced.checkpoint.size == 8
    # Older checkpoints read again change nothing.
    assert await watcher.observe(_note(signer, HONEST, 5)) is None
    # The operator rewrites leaf 4 and signs a longer tree with a proof from the forgery.
    with pytest.raises(LogRewrittenError) as caught:
        await watcher.observe(_note(signer, FORGED, 12), _headers(FORGED, 8, 12))
    assert (caught.value.old.size, caught.value.new.size) == (8, 12)
    assert caught.value.reason_code == "log-rewritten"
    # Two roots for one size: a fork.
    with pytest.raises(LogRewrittenError, match="two different roots"):
        await watcher.observe(_note(signer, FORGED, 8))
    # A restarted watcher remembers what it verified.
    again = CheckpointWatcher(signer.verifier(), state_path=state)
    assert again.latest is not None
    assert again.latest.checkpoint.size == 8


async def test_a_gap_waits_for_a_proof_source(tmp_path: Path) -> None:
    signer = NoteSigner.generate(ORIGIN)
    blind = CheckpointWatcher(signer.verifier())
    await blind.observe(_note(signer, HONEST, 3))
    assert await blind.observe(_note(signer, HONEST, 9), _headers(HONEST, 6, 9)) is None
    assert blind.latest is not None
    assert blind.latest.checkpoint.size == 3

    async def proofs(old: int, new: int) -> Sequence[bytes]:
        return consistency_proof(old, new, HONEST)

    sourced = CheckpointWatcher(signer.verifier(), proofs=proofs)
    await sourced.observe(_note(signer, HONEST, 3))
    advanced = await sourced.observe(_note(signer, HONEST, 9), _headers(HONEST, 6, 9))
    assert advanced is not None
    assert advanced.checkpoint.size == 9


@pytest.mark.kafka
@pytest.mark.slow
async def test_the_watcher_reads_the_log_s_topic_and_catches_a_forged_checkpoint(
    bus_settings: Settings, dev_pki: DevPki, tmp_path: Path
) -> None:
    settings = bus_settings.with_overrides(pki=dev_pki.directory)
    await ensure_topics(settings)
    log_settings = LogSettings(
        db_url=log_db(tmp_path), origin=ORIGIN, topic=f"{unique_name()}.edx.checkpoints"
    )
    async with LogService(settings, log_settings) as service:
        for chunk in (range(0, 10), range(10, 30)):
            await produce_events(settings, [event(EventKind.SUBMITTED, n) for n in chunk])
            deadline = asyncio.get_running_loop().time() + 60
            while service.size < chunk.stop:
                assert asyncio.get_running_loop().time() < deadline, "leaves did not arrive"
                await service.step()
            await service.checkpoint()
    watcher = CheckpointWatcher(load_log_verifier(dev_pki.directory))
    assert await watcher.catch_up(settings, log_settings) == 2
    env = clean_env(
        EDX_HOME=str(settings.home),
        EDX_BOOTSTRAP=settings.broker.bootstrap,
        EDX_PKI=str(dev_pki.directory),
        EDX_LOG_TOPIC=log_settings.topic,
        EDX_LOG_ORIGIN=ORIGIN,
    )
    seen = await asyncio.to_thread(run_edx, "log", "watch", cwd=tmp_path, env=env)
    assert seen.returncode == 0, seen.stderr
    assert "latest verified checkpoint: 30 leaves" in seen.stdout
    assert watcher.latest is not None
    assert watcher.latest.checkpoint.size == 30
    # The operator rewrites history and publishes a longer tree under the real key.
    forged = _tree([f"forged {n}".encode() for n in range(40)])
    signer = load_log_signer(dev_pki.directory, ORIGIN)
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            log_settings.topic,
            _note(signer, forged, 40),
            key=ORIGIN.encode(),
            headers=_headers(forged, 30, 40),
        )
    finally:
        await producer.stop()
    with pytest.raises(LogRewrittenError):
        await watcher.catch_up(settings, log_settings)
    caught = await asyncio.to_thread(run_edx, "log", "watch", cwd=tmp_path, env=env)
    assert caught.returncode == 3
    assert "[log-rewritten]" in caught.stderr
