"""`edx up` runs the log beside the router and tracker: after `edx demo`, a checkpoint,
a proof and an evidence bundle that verifies offline, all from the running bus."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from bus.embedded import RUNTIME_FILE, free_port
from bus.store import create_store_engine
from bus.tlog import Decision, LogStore
from tests.cli.test_services import running, stop, wait_for
from tests.fixtures.demo import clean_env, run_edx

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _first_document(db: Path) -> str | None:
    if not db.exists():
        return None
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        store = LogStore(engine)
        for leaf in (s.leaf for s in store.all_leaves()):
            if leaf.decision is Decision.ACCEPTED and leaf.kind == "document":
                return leaf.document_id
        return None
    except Exception:  # not migrated yet
        return None
    finally:
        engine.dispose()


def test_up_logs_the_demo_and_exports_evidence_that_verifies(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    runtime = tmp_path / ".edx" / RUNTIME_FILE
    with running(["up"], tmp_path, env) as up:
        wait_for(runtime.exists, 60, "the runtime file of edx up")
        demo = run_edx("demo", cwd=tmp_path, env=env, timeout=120)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        db = tmp_path / ".edx" / "log.db"
        wait_for(lambda: _first_document(db) is not None, 60, "the demo's leaves in the log")
        document_id = _first_document(db)
        assert document_id is not None
        made = run_edx("log", "checkpoint", "--new", "--json", cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["timestamp_reply"]
        proved = run_edx("log", "prove", document_id, cwd=tmp_path, env=env)
        assert proved.returncode == 0, proved.stderr
        out = tmp_path / "evidence.zip"
        exported = run_edx(
            "evidence", "export", document_id, "--out", str(out), cwd=tmp_path, env=env, timeout=120
        )
        assert exported.returncode == 0, exported.stderr
        assert stop(up, signal.SIGINT) == 0
    # Offline now: the bus is down, only the bundle, the root and the log key.
    pki = tmp_path / ".edx" / "pki"
    checked = run_edx(
        "evidence",
        "verify",
        str(out),
        "--trust",
        str(pki / "root" / "cert.pem"),
        "--log-key",
        str(pki / "log" / "note.pub"),
        cwd=tmp_path,
        env=clean_env(),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{document_id}: verified" in checked.stdout
    output = (tmp_path / "output.log").read_text()
    assert "log database      sqlite:///" in output
    assert "Traceback" not in output
