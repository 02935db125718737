"""The demo's named errors, in the one tree rooted in ``edxml.errors``."""

from __future__ import annotations

from edxml.errors import EdxbusError

__all__ = ["DemoTimeoutError", "ScenarioError"]


class DemoTimeoutError(EdxbusError, TimeoutError):
    """The demo's exchange did not complete in time (the bus is not keeping up)."""

    reason_code = "demo-timeout"


class ScenarioError(EdxbusError, ValueError):
    """The scenario file does not hold together (an unknown agency, a document never played)."""

    reason_code = "demo-scenario"
