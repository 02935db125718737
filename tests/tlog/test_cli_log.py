"""``edx log checkpoint|prove|consistency`` on a real log database, through the installed edx."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from signing import (
    DevPki,
    leaf_hash,
    load_log_verifier,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from tests.fixtures.demo import run_edx
from tests.tlog._populated import DOCUMENT, log_env, populate


@pytest.fixture
async def log_home(dev_pki: DevPki, tmp_path: Path) -> tuple[dict[str, str], Path]:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    await populate(dev_pki, url)
    return log_env(dev_pki, tmp_path, url), tmp_path / "log.db"


def test_checkpoint_prints_the_verified_latest(
    log_home: tuple[dict[str, str], Path], dev_pki: DevPki, tmp_path: Path
) -> None:
    env, _ = log_home
    done = run_edx("log", "checkpoint", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    checkpoint = open_checkpoint(body["note"].encode(), [load_log_verifier(dev_pki.directory)])
    assert checkpoint.size == body["tree_size"] == 5
    assert body["timestamp_reply"]
    text = run_edx("log", "checkpoint", cwd=tmp_path, env=env)
    assert "signature verified; time-stamped" in text.stdout


def test_prove_a_document_and_a_leaf(log_home: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, _ = log_home
    done = run_edx("log", "prove", DOCUMENT, "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    root = base64.b64decode(body["checkpoint"].split("\n")[2])
    assert [p["leaf_index"] for p in body["proofs"]] == [0, 3]
    for item in body["proofs"]:
        record = base64.b64decode(item["leaf"])
        proof = [base64.b64decode(h) for h in item["inclusion_proof"]]
        verify_inclusion(leaf_hash(record), item["leaf_index"], 5, proof, root)
    one = run_edx("log", "prove", "--leaf", "4", cwd=tmp_path, env=env)
    assert one.returncode == 0, one.stderr
    assert "1 inclusion proof(s) verified" in one.stdout


def test_consistency_between_two_checkpoints(
    log_home: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, _ = log_home
    done = run_edx("log", "consistency", "2", "5", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    verify_consistency(
        2,
        5,
        base64.b64decode(body["old_root"]),
        base64.b64decode(body["new_root"]),
        [base64.b64decode(h) for h in body["consistency_proof"]],
    )


def test_a_rewritten_leaf_is_caught_with_a_named_reason(
    log_home: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, db = log_home
    with sqlite3.connect(db) as connection:
        # Leaf 3 (one of the document's, past the older checkpoint of 2 leaves) rewritten,
        # and the stored subtree over leaves 2-3 with it, as a forger would.
        connection.execute(
            "UPDATE tlog_leaves SET leaf_hash = ? WHERE leaf_index = 3", (b"\x00" * 32,)
        )
        connection.execute(
            "UPDATE tlog_nodes SET hash = ? WHERE level = 1 AND node_index = 1", (b"\x00" * 32,)
        )
    prove = run_edx("log", "prove", DOCUMENT, cwd=tmp_path, env=env)
    assert prove.returncode == 3
    assert "[inclusion-proof]" in prove.stderr
    consistency = run_edx("log", "consistency", "2", "5", cwd=tmp_path, env=env)
    assert consistency.returncode == 3
    assert "[consistency-proof]" in consistency.stderr
    assert "Traceback" not in prove.stderr + consistency.stderr


def test_an_unknown_document_and_a_missing_log_are_one_line(
    log_home: tuple[dict[str, str], Path], dev_pki: DevPki, tmp_path: Path
) -> None:
    env, _ = log_home
    done = run_edx("log", "prove", "no-such-document", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "[unknown-document]" in done.stderr
    missing = {**env, "EDX_LOG_DB_URL": f"sqlite:///{tmp_path / 'absent.db'}"}
    none = run_edx("log", "checkpoint", cwd=tmp_path, env=missing)
    assert none.returncode == 1
    assert len(none.stderr.strip().splitlines()) == 1
