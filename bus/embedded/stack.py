"""The whole bus in one process: embedded broker, topics, router and tracker.

Why: a newcomer must get a working exchange with one command (``edx up``, and
``edx demo`` when no bus runs), with nothing to install but the package. The
broker is the embedded Tansu (memory storage); what must survive a restart lives
under ``settings.home`` (``./.edx``): the tracker database, the router's memory of
accepted documents, the agencies' outboxes and the dev PKI.

While the stack runs it writes ``$EDX_HOME/bus.json`` (bootstrap address, its own
process id and the broker's), so a second command (``edx demo``) finds the running
bus instead of starting another one; :func:`running_bus` reads it back. A file left
by a stack that died without stopping (``kill -9``) is recognised by its dead process
id, removed, and a broker it left behind is stopped, so the next ``edx up`` starts.

It also keeps a copy of the agency directory (``$EDX_HOME/directory.json``) and
publishes it again at the next start, since the embedded broker forgets
``edx.agencies`` when it stops.
The router's memory of accepted documents stays: it notices inboxes the new
broker lost and writes a re-submitted package to them again.

The broker listens on the port of ``settings.broker.bootstrap`` when that is a local
address and the port is free (so other terminals need no settings at all), else
on a free port, which :meth:`EmbeddedStack.settings` and the runtime file report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bus._service import AsyncService
from bus.directory import restore_directory_snapshot, save_directory_snapshot
from bus.embedded.broker import EmbeddedBroker
from bus.errors import BrokerError, BusError
from bus.logs import get_logger, log_context
from bus.metrics import MetricsServer, start_metrics_server
from bus.settings import Settings
from bus.topics import ensure_topics
from edxml.errors import EdxbusError
from signing import DevPki

__all__ = [
    "DIRECTORY_SNAPSHOT",
    "RUNTIME_FILE",
    "EmbeddedStack",
    "ensure_dev_pki",
    "running_bus",
]

#: The runtime file of a running stack, under ``settings.home``.
RUNTIME_FILE = "bus.json"
#: The copy of the agency directory a restarted embedded broker is given back.
DIRECTORY_SNAPSHOT = "directory.json"
#: How long the services get to finish their current batch when the stack stops.
_STOP_GRACE = 10.0
#: How often the directory snapshot is refreshed while the stack runs.
_SNAPSHOT_EVERY = 15.0
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

log = get_logger(__name__)


def running_bus(settings: Settings) -> str | None:
    """The bootstrap address of a stack running for ``settings.home``, if one answers.

    A runtime file whose stack process is gone is stale: it is removed (and the
    broker that stack left, if one still runs) and ``None`` is returned.
    """
    path = settings.home / RUNTIME_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not _alive(int(info["pid"])):
            _clear_stale(path, info)
            return None
        host, port = str(info["bootstrap"]).rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=0.5):
            return str(info["bootstrap"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True  # no /proc: the signal test is all there is
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_embedded_broker(pid: int) -> bool:
    """Whether ``pid`` is a Tansu broker started by :class:`EmbeddedBroker` (Linux)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"broker" in arguments and b"memory://tansu/" in arguments


def _clear_stale(path: Path, info: dict[str, object]) -> None:
    """Remove the runtime file of a dead stack and stop the broker it left running."""
    broker = info.get("broker_pid")
    if isinstance(broker, int) and _alive(broker) and _is_embedded_broker(broker):
        log.warning("stopping the broker a dead edx up left running", pid=broker)
        with contextlib.suppress(OSError):
            os.kill(broker, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while _alive(broker) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(broker):
            with contextlib.suppress(OSError):
                os.kill(broker, signal.SIGKILL)
    log.warning("removing the runtime file of a stopped bus", path=str(path), pid=info.get("pid"))
    with contextlib.suppress(OSError):
        path.unlink()


def ensure_dev_pki(settings: Settings) -> DevPki | None:
    """Create the dev PKI under ``settings.home`` unless trust is configured elsewhere.

    The router verifies against ``settings.resolved_trust`` from its start, so the
    embedded default needs a root there before the first agency is issued.
    """
    if settings.keys.trust is not None:
        return None
    return DevPki.init(settings.resolved_pki, exist_ok=True)


def _local_port(bootstrap: str) -> int | None:
    """The port of ``bootstrap`` when it is one local address, else ``None``."""
    if "," in bootstrap or ":" not in bootstrap:
        return None
    host, port = bootstrap.rsplit(":", 1)
    return int(port) if host in _LOCAL_HOSTS and port.isdigit() else None


def _port_free(port: int) -> bool:
    """Whether nobody listens on the port (as the broker binds it: connections of a
    stopped broker still in TIME_WAIT do not count, so a restart keeps its address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmbeddedStack(AsyncService):
    """Broker + topics + router + tracker, started and stopped together.

    ``async with EmbeddedStack(settings) as stack:`` starts everything and
    ``stack.settings`` points at the running broker; leaving the block stops the
    services first (they finish their batch and commit), then the broker.
    ``await stack.wait()`` returns when :meth:`request_stop` is called and raises
    when a service fails, so ``edx up`` can run in the foreground. ``prepare`` runs
    once the topics exist and before the services start (the demo registers its
    agencies there, so the tracker knows their names from its first event).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        port: int | None = None,
        metrics_port: int | None = None,
        prepare: Callable[[Settings], Awaitable[None]] | None = None,
    ) -> None:
        self._requested = settings
        self._port = port
        self._metrics_port = metrics_port
        self._prepare = prepare
        self._settings: Settings | None = None
        self._broker: EmbeddedBroker | None = None
        self._metrics: MetricsServer | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._keeper: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        """The settings of the running stack (``bootstrap`` is the broker's address)."""
        if self._settings is None:
            raise BrokerError("the embedded bus is not running")
        return self._settings

    @property
    def metrics_url(self) -> str | None:
        """Where the stack's Prometheus metrics are served, when they are."""
        return self._metrics.url if self._metrics is not None else None

    async def start(self) -> None:
        """Start the broker, create the topics, then start the router and the tracker."""
        home = self._requested.home
        home.mkdir(parents=True, exist_ok=True)
        port = self._port
        if port is None:
            wanted = _local_port(self._requested.broker.bootstrap)
            port = wanted if wanted is not None and _port_free(wanted) else None
        self._broker = EmbeddedBroker(port=port, log_path=home / "broker.log")
        try:
            await self._broker.start_async()
            settings = self._requested.with_values(bootstrap=self._broker.bootstrap)
            self._settings = settings
            await asyncio.to_thread(ensure_dev_pki, settings)  # key generation: off the loop
            await ensure_topics(settings)
            restored = await restore_directory_snapshot(settings, self._snapshot_path)
            if restored:
                log.info("agency directory restored from its snapshot", agencies=restored)
            if self._prepare is not None:  # e.g. register agencies the services load at start
                await self._prepare(settings)
            self._metrics = start_metrics_server(settings, port=self._metrics_port)
            self._start_services(settings)
            self._write_runtime_file(settings)
        except BaseException:
            await self.stop()
            raise
        log.info("embedded bus running", bootstrap=settings.broker.bootstrap, home=str(home))

    def _start_services(self, settings: Settings) -> None:
        # Imported here: the services import much of the bus; the stack is their one wiring.
        from bus.router import run_router
        from bus.tlog import run_log
        from bus.tracker import run_tracker

        # One endpoint for both services (started by the stack): they must not open it.
        settings = settings.with_values(metrics_port=0)

        async def service(name: str, run: Callable[..., Awaitable[None]]) -> None:
            with log_context(service=name):
                await run(settings, stop=self._stop)

        self._tasks = [
            asyncio.create_task(service("router", run_router), name="edx-router"),
            asyncio.create_task(service("tracker", run_tracker), name="edx-tracker"),
            asyncio.create_task(service("log", run_log), name="edx-log"),
        ]
        self._keeper = asyncio.create_task(self._keep_directory_snapshot(settings))

    @property
    def _snapshot_path(self) -> Path:
        return self._requested.home / DIRECTORY_SNAPSHOT

    async def _save_directory(self, settings: Settings) -> None:
        try:
            await save_directory_snapshot(settings, self._snapshot_path)
        except EdxbusError as exc:
            log.warning("agency directory snapshot not saved", error=str(exc))

    async def _keep_directory_snapshot(self, settings: Settings) -> None:
        """The broker forgets the directory when it stops: keep a copy as it changes."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), _SNAPSHOT_EVERY)
            await self._save_directory(settings)

    def _write_runtime_file(self, settings: Settings) -> None:
        info = {
            "bootstrap": settings.broker.bootstrap,
            "pid": os.getpid(),
            "broker_pid": self._broker.pid if self._broker is not None else None,
            "started_at": datetime.now(UTC).isoformat(),
            "db_url": settings.resolved_db_url,
        }
        (settings.home / RUNTIME_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")

    def request_stop(self) -> None:
        """Ask the services to finish (safe from a signal handler via the loop)."""
        self._stop.set()

    async def wait(self) -> None:
        """Until :meth:`request_stop`; raises the error of a service that fails first."""
        stopper = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                [stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopper.cancel()
        for task in self._tasks:
            if task in done and not task.cancelled() and task.exception() is not None:
                raise BusError(
                    f"the {task.get_name().removeprefix('edx-')} stopped: {task.exception()}"
                ) from task.exception()
        if not self._stop.is_set():
            raise BusError("a service of the embedded bus stopped on its own")

    async def stop(self) -> None:
        """Stop the services (grace period, then cancel), the metrics, then the broker.

        The directory snapshot is saved last of all while the broker still runs.
        """
        self._stop.set()
        if self._keeper is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._keeper, _STOP_GRACE)
            self._keeper = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=_STOP_GRACE)
            for task in pending:
                task.cancel()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for task, result in zip(self._tasks, results, strict=True):
                if isinstance(result, Exception):
                    log.warning(
                        "service ended with an error", service=task.get_name(), error=str(result)
                    )
            self._tasks = []
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._settings is not None:
            with contextlib.suppress(OSError):
                (self._settings.home / RUNTIME_FILE).unlink(missing_ok=True)
        if self._broker is not None:
            await asyncio.to_thread(self._broker.stop)
            self._broker = None
        self._settings = None
