"""Structured logs and Prometheus metrics (bus.logs, bus.metrics)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.errors import ConfigError
from bus.logs import configure_logging, get_logger, log_context
from bus.metrics import (
    REGISTRY,
    clear_consumer_lag,
    record_delivered,
    record_rejected,
    record_status,
    record_submitted,
    start_metrics_server,
    update_consumer_lag,
)
from bus.settings import Settings

DOC = "000.00.00.H41,2026/11/23,15/UBND-VP"
AGENCY = "000.00.00.H41"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Route logging into a string for one test, then restore the root logger."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_document_and_agency_bound_by_context(log_stream: io.StringIO) -> None:
    configure_logging(Settings.of(log_format="json"), stream=log_stream)
    log = get_logger("bus.router")
    with log_context(document_id=DOC, agency=AGENCY):
        log.info("accepted")
        log.info("delivered", recipient="000.01.32.H41")
    log.info("idle")

    accepted, delivered, idle = _json_lines(log_stream)
    assert accepted["document_id"] == DOC
    assert accepted["agency"] == AGENCY
    assert accepted["message"] == "accepted"
    assert accepted["logger"] == "bus.router"
    assert delivered["recipient"] == "000.01.32.H41"
    assert delivered["document_id"] == DOC
    assert "document_id" not in idle, "fields must not leak out of the block"
    assert str(accepted["time"]).endswith("Z")


def test_plain_library_loggers_get_the_bound_fields_too(log_stream: io.StringIO) -> None:
    configure_logging(Settings.of(log_format="json"), stream=log_stream)
    with log_context(document_id=DOC, agency=AGENCY):
        logging.getLogger("sqlalchemy.engine.test").warning("slow statement")
    (line,) = _json_lines(log_stream)
    assert line["document_id"] == DOC
    assert line["agency"] == AGENCY


def test_text_lines_put_document_and_agency_first_and_quote_spaces(
    log_stream: io.StringIO,
) -> None:
    configure_logging(Settings.of(log_format="text"), stream=log_stream)
    with log_context(agency=AGENCY), log_context(document_id=DOC):
        get_logger("bus.tracker").warning("refused", reason="quá hạn xử lý")
    line = log_stream.getvalue().strip()
    assert " WARNING bus.tracker: refused " in line
    assert line.index("document_id=") < line.index("agency=") < line.index("reason=")
    assert f"document_id={DOC}" in line
    assert 'reason="quá hạn xử lý"' in line


async def test_context_follows_tasks_started_inside_the_block(log_stream: io.StringIO) -> None:
    configure_logging(Settings.of(log_format="json"), stream=log_stream)
    log = get_logger("bus.router")

    async def deliver(recipient: str) -> None:
        await asyncio.sleep(0)
        log.info("delivered", recipient=recipient)

    with log_context(document_id=DOC, agency=AGENCY):
        tasks = [asyncio.create_task(deliver(f"000.0{i}.32.H41")) for i in range(3)]
    await asyncio.gather(*tasks)
    lines = _json_lines(log_stream)
    assert len(lines) == 3
    assert all(line["document_id"] == DOC for line in lines)


def test_exceptions_are_logged_with_their_traceback_in_json(log_stream: io.StringIO) -> None:
    configure_logging(Settings.of(log_format="json"), stream=log_stream)
    try:
        raise RuntimeError("broker went away")
    except RuntimeError:
        with log_context(document_id=DOC):
            get_logger("bus.router").exception("cannot deliver")
    (line,) = _json_lines(log_stream)
    assert "RuntimeError: broker went away" in str(line["exception"])
    assert line["level"] == "ERROR"
    assert line["document_id"] == DOC


def test_reconfiguring_replaces_the_handler_instead_of_doubling_lines(
    log_stream: io.StringIO,
) -> None:
    configure_logging(Settings.of(log_format="text"), stream=log_stream)
    configure_logging(Settings.of(log_format="json"), stream=log_stream)
    get_logger("edx").info("once")
    assert len(_json_lines(log_stream)) == 1


def test_unknown_log_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="yaml"):
        configure_logging(Settings.of(log_format="yaml"))


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_count_what_the_services_report() -> None:
    before = (
        _value("edx_packages_submitted_total"),
        _value("edx_packages_delivered_total"),
        _value("edx_packages_rejected_total", reason="replay"),
        _value("edx_statuses_total", code="03"),
    )
    record_submitted()
    record_delivered(3)
    record_rejected("replay")
    record_status("03")
    record_status("03")
    after = (
        _value("edx_packages_submitted_total"),
        _value("edx_packages_delivered_total"),
        _value("edx_packages_rejected_total", reason="replay"),
        _value("edx_statuses_total", code="03"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 3, 1, 2]


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


class _FakeConsumer:
    """Just the three calls update_consumer_lag makes; the broker side is tested in tests/bus."""

    def __init__(self, ends: dict[_TP, int], positions: dict[_TP, int]) -> None:
        self._ends, self._positions = ends, positions

    def assignment(self) -> set[_TP]:
        return set(self._ends)

    async def end_offsets(self, partitions: list[_TP]) -> dict[_TP, int]:
        return {tp: self._ends[tp] for tp in partitions}

    async def position(self, partition: _TP) -> int:
        return self._positions[partition]


async def test_consumer_lag_is_end_offset_minus_position_per_partition() -> None:
    p0, p1 = _TP("edx.submit", 0), _TP("edx.submit", 1)
    consumer = _FakeConsumer({p0: 10, p1: 4}, {p0: 7, p1: 4})
    total = await update_consumer_lag(consumer, "router-test")
    assert total == 3
    assert _value("edx_consumer_lag", service="router-test", topic="edx.submit", partition="0") == 3
    assert _value("edx_consumer_lag", service="router-test", topic="edx.submit", partition="1") == 0
    clear_consumer_lag("router-test")
    labels = {"service": "router-test", "topic": "edx.submit", "partition": "0"}
    assert REGISTRY.get_sample_value("edx_consumer_lag", labels) is None


def test_metrics_port_zero_opens_nothing() -> None:
    assert start_metrics_server(Settings.of(metrics_port=0)) is None


def test_endpoint_serves_the_counters_in_prometheus_text_format() -> None:
    record_rejected("signature-error")
    server = start_metrics_server(Settings(), address="127.0.0.1", port=-1)
    assert server is not None
    with server, urllib.request.urlopen(server.url, timeout=5) as response:  # noqa: S310
        body = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    for name in (
        "edx_packages_submitted",
        "edx_packages_delivered",
        "edx_packages_rejected",
        "edx_statuses",
        "edx_consumer_lag",
    ):
        assert name in families, name
    rejected = {
        s.labels["reason"]: s.value
        for s in families["edx_packages_rejected"].samples
        if s.name.endswith("_total")
    }
    assert rejected["signature-error"] >= 1


def test_endpoint_on_a_taken_port_is_a_config_error() -> None:
    first = start_metrics_server(Settings(), address="127.0.0.1", port=-1)
    assert first is not None
    with first, pytest.raises(ConfigError, match="cannot serve metrics"):
        start_metrics_server(Settings.of(metrics_port=first.port), address="127.0.0.1")
