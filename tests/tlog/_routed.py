"""A document, its status 01 and a refused replay through the real router, into a log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bus import LogSettings, Settings
from bus.tlog import LogService
from edxml import DocumentPackage, StatusCode
from signing import Signer
from tests.bus.routing_helpers import document, quick_router, register, route, signed, status
from tests.bus.routing_helpers import submit as submit_record
from tests.fixtures.broker import unique_name
from tests.tlog._feed import log_db

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"
ORIGIN = "edxbus.test/log"


@dataclass(frozen=True)
class RoutedLog:
    """What went through: the document, its signed bytes, and the log's settings (and
    the bus's, on which it went)."""

    package: DocumentPackage
    data: bytes
    log_settings: LogSettings
    settings: Settings


async def routed_log(
    settings: Settings, signer_for: Callable[[str], Signer], tmp_path: Path
) -> RoutedLog:
    """Route three packages (accepted document, accepted 01, refused replay) and log them."""
    await register(settings, signer_for, [CENTRAL, PROVINCE])
    package = document(CENTRAL, [PROVINCE])
    data = signed(package, signer_for(CENTRAL))
    await submit_record(settings, data, sender=CENTRAL, document_id=package.document_id)
    answer = signed(status(PROVINCE, package, StatusCode.ARRIVED), signer_for(PROVINCE))
    await submit_record(settings, answer, sender=PROVINCE, kind="status")
    fields = {name: getattr(package, name) for name in package.__dataclass_fields__}
    replay = signed(
        package.__class__(**{**fields, "subject": "Nội dung khác"}), signer_for(CENTRAL)
    )
    await submit_record(settings, replay, sender=CENTRAL, document_id=package.document_id)
    async with quick_router(settings) as router:
        await route(router, 3, within=60)
    log_settings = LogSettings(
        db_url=log_db(tmp_path), origin=ORIGIN, topic=f"{unique_name()}.edx.checkpoints"
    )
    async with LogService(settings, log_settings) as service:
        deadline = asyncio.get_running_loop().time() + 60
        while service.size < 3:
            assert asyncio.get_running_loop().time() < deadline, "the log missed decisions"
            await service.step()
        await service.checkpoint()
    return RoutedLog(package, data, log_settings, settings)
