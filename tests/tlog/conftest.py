"""The transparency log's fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bus import Settings
from signing import DevPki, Signer
from tests.tlog._routed import RoutedLog, routed_log


@pytest.fixture
async def routed(
    bus_settings: Settings,
    dev_pki: DevPki,
    signer_for: Callable[[str], Signer],
    tmp_path: Path,
) -> RoutedLog:
    """A document, its 01 and a refused replay routed on the dev PKI, into a fresh log."""
    return await routed_log(
        bus_settings.with_overrides(pki=dev_pki.directory), signer_for, tmp_path
    )
