"""Tools we did not write, run on our output: OpenSSL for time-stamps and chains."""

from __future__ import annotations

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
