"""Shared fixtures. Each fixture family lives in its own module under tests/fixtures."""

from __future__ import annotations

import signal

import pytest

pytest_plugins = [
    "tests.fixtures.samples",
    "tests.fixtures.pki",
    "tests.fixtures.broker",
    "tests.fixtures.database",
]


def pytest_configure(config: pytest.Config) -> None:
    """Deliver Ctrl-C as a terminal does, however the run was started.

    A shell without job control starts a background command (``make test &``, a
    script's ``cmd &``) with SIGINT ignored, and every process it starts inherits
    that: Python then installs no KeyboardInterrupt handler, so the tests of what
    Ctrl-C does (``edx inbox --follow``, its grace) would see nothing happen. Python
    installs its handler, and the processes the tests start get SIGINT delivered.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
