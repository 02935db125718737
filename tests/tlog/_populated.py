"""A log database with leaves and checkpoints, made without a broker (for readers' tests)."""

from __future__ import annotations

from pathlib import Path

from bus.lifecycle import EventKind
from bus.store import create_store_engine
from bus.tlog import Coordinates, LogStore, leaf_from_event, make_checkpoint, upgrade
from bus.tlog.tsa_http import TsaServer
from signing import DevPki, DevTsa, Frontier, load_log_signer
from tests.tlog._events import event

ORIGIN = "edxbus.test/log"
DOCUMENT = "000.00.00.G22,2026/11/29,doc"


async def populate(pki: DevPki, url: str, sizes: tuple[int, ...] = (2, 5)) -> list[int]:
    """Leaves for ``max(sizes)`` decisions (every third one about :data:`DOCUMENT`),
    with a time-stamped checkpoint at each size; the indexes of DOCUMENT's leaves."""
    engine = create_store_engine(url)
    signer = load_log_signer(pki.directory, ORIGIN)
    kinds = [EventKind.SUBMITTED, EventKind.STATUS, EventKind.REJECTED]
    mine = []
    try:
        upgrade(engine)
        store = LogStore(engine)
        frontier = Frontier()
        with TsaServer(DevTsa.from_pki(pki.directory)) as tsa:
            for n in range(max(sizes)):
                document = DOCUMENT if n % 3 == 0 else None
                leaf = leaf_from_event(
                    event(kinds[n % 3], n, document_id=document, recipient="000.00.00.H41"),
                    Coordinates("edx.events", 0, n),
                )
                assert leaf is not None
                result = store.append([leaf], {("edx.events", 0): n + 1})
                frontier.append(result.hashes[0])
                if document:
                    mine.append(n)
                if n + 1 in sizes:
                    await make_checkpoint(store, signer, tsa.url, frontier)
    finally:
        engine.dispose()
    return mine


def log_env(pki: DevPki, home: Path, url: str) -> dict[str, str]:
    """The environment for ``edx log ...`` on that database."""
    from tests.fixtures.demo import clean_env

    return clean_env(
        EDX_HOME=str(home), EDX_PKI=str(pki.directory), EDX_LOG_DB_URL=url, EDX_LOG_ORIGIN=ORIGIN
    )
