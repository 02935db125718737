"""The hostile signed-package corpus (tests/signing/hostile): each file, its named error.

Files are named ``<reason-code>--<what>.edxml``; ``valid--*.edxml`` must verify. They
are checked against the corpus's own public root and CRL, so they need no private
key: ``python -m tests.signing.hostile.generate`` rebuilds them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from edxml import EdxbusError
from signing import TrustStore, Verifier

HOSTILE = Path(__file__).resolve().parent / "hostile"
FILES = sorted(HOSTILE.glob("*.edxml"))


@pytest.fixture(scope="module")
def corpus_verifier() -> Verifier:
    return Verifier(TrustStore.from_directory(HOSTILE / "root.pem", [HOSTILE / "crl.pem"]))


def test_the_corpus_is_there() -> None:
    reasons = {path.name.split("--")[0] for path in FILES}
    assert len(FILES) >= 20
    assert {
        "valid",
        "no-signature",
        "malformed-signature",
        "digest-mismatch",
        "signature-mismatch",
        "untrusted-certificate",
        "certificate-expired",
        "certificate-revoked",
        "key-usage",
        "unbound-certificate",
        "sender-mismatch",
        "weak-algorithm",
        "signature-wrapping",
        "unsupported-algorithm",
        "unsigned-content",
    } <= reasons
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in HOSTILE.iterdir() if p.is_file())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_gets_its_named_error(path: Path, corpus_verifier: Verifier) -> None:
    expected = path.name.split("--")[0]
    data = path.read_bytes()
    if expected == "valid":
        assert corpus_verifier.verify(data).agency_code == "000.00.00.H41"
        return
    with pytest.raises(EdxbusError) as caught:
        corpus_verifier.verify(data)
    assert caught.value.reason_code == expected, str(caught.value)


def test_the_cli_names_each_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDX_HOME", str(tmp_path))
    trust = ["--trust", str(HOSTILE / "root.pem"), "--crl", str(HOSTILE / "crl.pem")]
    result = CliRunner().invoke(cli, ["verify", *trust, *map(str, FILES)])
    assert result.exit_code == 3
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(FILES)
    for path, line in zip(FILES, lines, strict=True):
        expected = path.name.split("--")[0]
        if expected == "valid":
            assert line.startswith("OK ")
        else:
            assert line.startswith(f"FAIL  {path}  {expected}: "), line
