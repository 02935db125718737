"""Hostile inputs (tests/data/hostile) submitted to the bus: refused by name, nothing lost.

None of these files is signed by a trusted agency, and several attack the parser
(entity expansion, external DTDs, deep nesting). The router must refuse each one
with a named reason in the dead-letter topic, keep the bytes, deliver nothing,
and keep routing afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_topic,
    register,
    route,
    signed,
    submit,
)

pytestmark = pytest.mark.kafka

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"
SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
#: Reasons that say "the parser refused a dangerous construct".
UNSAFE = {"forbidden-dtd", "forbidden-entity", "too-deep", "unsafe-xml", "malformed-xml"}


async def test_every_hostile_file_is_refused_by_name_and_routing_goes_on(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    files = sorted(HOSTILE.glob("*.edxml"))
    assert len(files) > 10
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    for path in files:
        await submit(settings, path.read_bytes(), sender=SENDER)
    good = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    await submit(settings, good, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, len(files) + 1)

    dead = await read_topic(settings, settings.topics.deadletter)
    assert len(dead) == len(files)
    by_value = {r.value: r.headers["edx-reason-code"] for r in dead}
    for path in files:
        reason = by_value[path.read_bytes()]  # the bytes are kept as they came
        assert reason, path.name
        assert reason != "edxbus-error", path.name
    for name in ("billion-laughs", "external-dtd", "very-deep-nesting"):  # parser attacks
        assert by_value[(HOSTILE / f"{name}.edxml").read_bytes()] in UNSAFE, name
    (delivered,) = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert delivered.value == good
