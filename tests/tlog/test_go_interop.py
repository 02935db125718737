"""An implementation we did not write agrees with ours, in both directions.

Go's ``golang.org/x/mod/sumdb/tlog`` (RFC 6962 proofs) and ``sumdb/note`` (signed
notes), from Debian's ``golang-golang-x-mod-dev`` source under /usr/share/gocode,
are built into a small program (``gotlog/main.go``) in GOPATH mode with no network.
It checks our inclusion proofs, consistency proofs and signed checkpoint; it makes
proofs and a signed checkpoint of its own, which ours must accept.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import (
    Checkpoint,
    ConsistencyProofError,
    NoteSigner,
    NoteVerifier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    open_checkpoint,
    root_hash,
    sign_checkpoint,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.slow

GOCODE = Path("/usr/share/gocode")
ORIGIN = "edxbus.test/log"


@pytest.fixture(scope="session")
def gotlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built from Debian's x/mod source; missing Go is an error."""
    go = shutil.which("go")
    if go is None or not (GOCODE / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        raise RuntimeError("Go and golang.org/x/mod are not installed: run scripts/ensure-tools.sh")
    out = tmp_path_factory.mktemp("gotlog")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOCODE),
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    source = Path(__file__).with_name("gotlog") / "main.go"
    subprocess.run([go, "build", "-o", str(out / "gotlog"), str(source)], env=env, check=True)
    return out / "gotlog"


def _run(binary: Path, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(binary)], input=json.dumps(request).encode(), capture_output=True, check=False
    )
    return done.returncode, json.loads(done.stdout)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


records = st.lists(st.binary(max_size=16), min_size=1, max_size=40, unique=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records, st.data())
def test_go_checks_our_proofs_and_checkpoint(
    gotlog: Path, data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(r) for r in data]
    size = len(leaves)
    signer = NoteSigner.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root_hash(leaves)), signer)
    pairs = [(i, s) for s in range(1, size + 1) for i in range(s)]
    picked = draw.draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=10))
    old = draw.draw(st.integers(1, size))
    request = {
        "op": "check",
        "records": [_b64(r) for r in data],
        "note": note.decode(),
        "vkey": signer.verifier().to_string(),
        "inclusion": [
            {"index": i, "size": s, "proof": [_b64(h) for h in inclusion_proof(i, s, leaves)]}
            for i, s in picked
        ],
        "consistency": [
            {
                "old": old,
                "new": size,
                "proof": [_b64(h) for h in consistency_proof(old, size, leaves)],
            }
        ],
    }
    code, reply = _run(gotlog, request)
    assert (code, reply.get("error")) == (0, None)
    assert (reply["origin"], reply["size"]) == (ORIGIN, size)


def test_go_refuses_a_rewritten_history(gotlog: Path) -> None:
    data = [b"a", b"b", b"c", b"d", b"e"]
    forged = [b"a", b"B", b"c", b"d", b"e"]
    leaves = [leaf_hash(r) for r in forged]
    signer = NoteSigner.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, root_hash([leaf_hash(r) for r in data])), signer)
    request = {
        "op": "check",
        "records": [_b64(r) for r in data],
        "note": note.decode(),
        "vkey": signer.verifier().to_string(),
        "inclusion": [],
        "consistency": [
            {"old": 3, "new": 5, "proof": [_b64(h) for h in consistency_proof(3, 5, leaves)]}
        ],
    }
    code, reply = _run(gotlog, request)
    assert code == 1
    assert "consistency 3 to 5" in reply["error"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records, st.data())
def test_we_check_gos_proofs_and_checkpoint(
    gotlog: Path, data: list[bytes], draw: st.DataObject
) -> None:
    size = len(data)
    pairs = [(i, s) for s in range(1, size + 1) for i in range(s)]
    picked = draw.draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=10))
    olds = draw.draw(st.lists(st.integers(1, size), min_size=1, max_size=5))
    request = {
        "op": "prove",
        "records": [_b64(r) for r in data],
        "name": ORIGIN,
        "inclusion": [{"index": i, "size": s} for i, s in picked],
        "consistency": [{"old": old, "new": size} for old in olds],
    }
    code, reply = _run(gotlog, request)
    assert code == 0, reply
    roots = {int(s): base64.b64decode(h) for s, h in reply["roots"].items()}
    verifier = NoteVerifier.from_string(reply["vkey"])
    checkpoint = open_checkpoint(reply["note"].encode(), [verifier])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (ORIGIN, size, roots[size])
    assert root_hash([leaf_hash(r) for r in data]) == roots[size]
    for item in reply["inclusion"]:
        proof = [base64.b64decode(h) for h in item["proof"]]
        leaf = leaf_hash(data[item["index"]])
        verify_inclusion(leaf, item["index"], item["size"], proof, roots[item["size"]])
    for item in reply["consistency"]:
        proof = [base64.b64decode(h) for h in item["proof"]]
        verify_consistency(item["old"], item["new"], roots[item["old"]], roots[item["new"]], proof)
        if item["old"] < item["new"]:
            with pytest.raises(ConsistencyProofError):
                verify_consistency(
                    item["old"], item["new"], roots[item["new"]], roots[item["new"]], proof
                )
