"""Prometheus metrics of the bus services, and the endpoint that serves them.

Why: an operator's monitoring must see, without reading logs, whether documents
flow (submitted, delivered), why some do not (rejected, by reason code), what
agencies answer (statuses, by code), and whether a service falls behind its topic
(consumer lag). These are the signals docs/OPERATIONS.md tells operators to alert on.

The metrics live in one registry of their own, :data:`REGISTRY` (plus the
process and platform collectors), so that several services running in one
process (``edx up``) share it and a test can read exact values from it.
Each service calls :func:`start_metrics_server` with its settings: with
``settings.observability.metrics_port`` 0 (the default) no port is opened.

Names (all counters are cumulative since the process started)::

    edx_packages_submitted_total                 packages read from edx.submit by a router
    edx_packages_delivered_total                 copies written to recipients' inboxes
    edx_packages_rejected_total{reason}          packages sent to edx.deadletter, by reason code
    edx_statuses_total{code}                     status packages routed, by status code
    edx_tracker_events_total{kind}               lifecycle events recorded by a tracker
    edx_events_quarantined_total                 edx.events records a tracker could not decode
    edx_consumer_lag{service,topic,partition}    records not yet consumed (gauge)
    edx_package_processing_seconds{service}      time to handle one package or batch (histogram)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from bus.errors import ConfigError
from bus.settings import Settings

__all__ = [
    "CONSUMER_LAG",
    "EVENTS_QUARANTINED",
    "PACKAGES_DELIVERED",
    "PACKAGES_REJECTED",
    "PACKAGES_SUBMITTED",
    "PROCESSING_SECONDS",
    "REGISTRY",
    "STATUSES",
    "TRACKER_EVENTS",
    "MetricsServer",
    "clear_consumer_lag",
    "record_delivered",
    "record_rejected",
    "record_status",
    "record_submitted",
    "record_tracker_event",
    "set_consumer_lag",
    "start_metrics_server",
    "time_processing",
    "update_consumer_lag",
]

#: The registry every edxbus metric is registered in, and the one the endpoint serves.
REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

PACKAGES_SUBMITTED: Final = Counter(
    "edx_packages_submitted",
    "Packages (documents and statuses) read from edx.submit by a router.",
    registry=REGISTRY,
)
PACKAGES_DELIVERED: Final = Counter(
    "edx_packages_delivered",
    "Package copies written to a recipient's inbox (one per recipient).",
    registry=REGISTRY,
)
PACKAGES_REJECTED: Final = Counter(
    "edx_packages_rejected",
    "Packages refused by a router and written to edx.deadletter, by reason code.",
    ["reason"],
    registry=REGISTRY,
)
STATUSES: Final = Counter(
    "edx_statuses",
    "Status packages routed, by status code (01 arrived ... 16).",
    ["code"],
    registry=REGISTRY,
)
TRACKER_EVENTS: Final = Counter(
    "edx_tracker_events",
    "Lifecycle events recorded by a tracker, by kind (SUBMITTED, DELIVERED, ...).",
    ["kind"],
    registry=REGISTRY,
)
EVENTS_QUARANTINED: Final = Counter(
    "edx_events_quarantined",
    "Records on edx.events that did not decode and went to the quarantine table.",
    registry=REGISTRY,
)
CONSUMER_LAG: Final = Gauge(
    "edx_consumer_lag",
    "Records on a partition not yet consumed by a service (high watermark - position).",
    ["service", "topic", "partition"],
    registry=REGISTRY,
)
PROCESSING_SECONDS: Final = Histogram(
    "edx_package_processing_seconds",
    "Time a service spends on one package (router) or one batch (tracker).",
    ["service"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


def record_submitted(count: int = 1) -> None:
    """A router read ``count`` packages from ``edx.submit``."""
    PACKAGES_SUBMITTED.inc(count)


def record_delivered(count: int = 1) -> None:
    """A router wrote ``count`` copies to recipients' inboxes."""
    PACKAGES_DELIVERED.inc(count)


def record_rejected(reason_code: str) -> None:
    """A router refused a package for ``reason_code`` (the error's ``.reason_code``)."""
    PACKAGES_REJECTED.labels(reason=reason_code).inc()


def record_status(code: str) -> None:
    """A router routed a status package with status ``code`` (``"01"`` ... ``"16"``)."""
    STATUSES.labels(code=code).inc()


def record_tracker_event(kind: str, count: int = 1) -> None:
    """A tracker recorded ``count`` lifecycle events of ``kind``."""
    TRACKER_EVENTS.labels(kind=kind).inc(count)


@contextmanager
def time_processing(service: str) -> Iterator[None]:
    """Observe the duration of the block in ``edx_package_processing_seconds``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        PROCESSING_SECONDS.labels(service=service).observe(time.perf_counter() - started)


def set_consumer_lag(service: str, topic: str, partition: int, lag: int) -> None:
    """Set the lag of ``service`` on one partition (never below zero)."""
    CONSUMER_LAG.labels(service=service, topic=topic, partition=str(partition)).set(max(lag, 0))


def clear_consumer_lag(service: str) -> None:
    """Forget a service's lag series (its partitions were revoked or it stopped)."""
    for labels in _lag_series():
        if labels[0] == service:
            CONSUMER_LAG.remove(*labels)


def _lag_series() -> list[tuple[str, str, str]]:
    series: list[tuple[str, str, str]] = []
    for metric in CONSUMER_LAG.collect():
        for sample in metric.samples:
            lab = sample.labels
            series.append((lab["service"], lab["topic"], lab["partition"]))
    return series


class _TopicPartition(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


class LagSource(Protocol):
    """What :func:`update_consumer_lag` needs of a consumer (aiokafka's has it)."""

    def assignment(self) -> Iterable[Any]: ...
    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]: ...
    async def position(self, partition: Any) -> int: ...


async def update_consumer_lag(consumer: LagSource, service: str) -> int:
    """Measure and publish the lag of ``consumer`` on each assigned partition.

    Lag is the partition's end offset minus the consumer's position. Services call
    it after each batch (it costs one ListOffsets request). Returns the total lag.
    """
    partitions: list[_TopicPartition] = list(consumer.assignment())
    if not partitions:
        return 0
    ends = await consumer.end_offsets(list(partitions))
    total = 0
    for tp in partitions:
        lag = max(ends.get(tp, 0) - await consumer.position(tp), 0)
        set_consumer_lag(service, tp.topic, tp.partition, lag)
        total += lag
    return total


# Binding every interface is the point of the endpoint: Prometheus scrapes it from
# the monitoring network. The port stays closed unless settings.observability.metrics_port is set.
_ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104


@dataclass(frozen=True)
class MetricsServer:
    """A running metrics endpoint: ``http://address:port/metrics``. Stop it when done."""

    address: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address == _ALL_INTERFACES else self.address
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Close the port and wait for the serving thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_metrics_server(
    settings: Settings, *, address: str = _ALL_INTERFACES, port: int | None = None
) -> MetricsServer | None:
    """Serve :data:`REGISTRY` on ``settings.observability.metrics_port`` (or ``port``);
    ``None`` when 0.

    ``port=-1`` asks the system for a free port (tests, ``edx up`` next to others).
    """
    wanted = settings.observability.metrics_port if port is None else port
    if wanted == 0:
        return None
    if wanted < -1 or wanted > 65535:
        raise ConfigError(f"metrics port {wanted} is not a TCP port")
    try:
        server, thread = start_http_server(max(wanted, 0), addr=address, registry=REGISTRY)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {address}:{wanted}: {exc.strerror or exc}"
        ) from exc
    bound_port = int(server.server_address[1])
    return MetricsServer(address, bound_port, server, thread)
