"""Tools we did not write, run on our output: OpenSSL for time-stamps and chains."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def openssl_ts_verify(data: Path, reply: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    """``openssl ts -verify`` of a time-stamp reply over a file, against a CA file."""
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(data), "-in", str(reply), "-CAfile", str(ca)],
        capture_output=True,
        text=True,
        check=False,
    )


def openssl_ts_verifies(data: Path, reply: Path, ca: Path) -> bool:
    """Whether OpenSSL accepts the reply (and says so)."""
    done = openssl_ts_verify(data, reply, ca)
    return done.returncode == 0 and "Verification: OK" in done.stdout


def xmlsec1_verifies(package: Path, root: Path) -> bool:
    """Whether xmlsec1 accepts the package's XML signature, trusting ``root`` only."""
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise RuntimeError("xmlsec1 is not installed: run scripts/ensure-tools.sh")
    done = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(root), str(package)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def openssl_chain_verifies(cert: Path, root: Path, crls: list[Path]) -> bool:
    """Whether ``openssl verify -crl_check`` accepts ``cert`` (the file may carry its chain)."""
    crl_args = [arg for crl in crls for arg in ("-CRLfile", str(crl))]
    done = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", str(root), *crl_args, str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and f"{cert}: OK" in done.stdout
