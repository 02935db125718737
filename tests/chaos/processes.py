"""The processes of a fault-injection run: started, killed with -9, restarted, supervised.

Each process has its own session (so a kill reaches it alone, never the test run)
and writes its output to a log file beside the run's state. ``exits`` counts the
times it ended on its own, which a supervisor (systemd, a container restart
policy) would answer by starting it again, and so does :meth:`Process.supervise`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

__all__ = ["Process", "resident_megabytes"]

_STOP_GRACE_SECONDS = 10.0


class Process:
    """One service or application process the scenarios may kill and restart."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.exits: list[int] = []
        self.kills = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self.alive:
            return
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start at {time.time():.3f}\n".encode())
        self._log.flush()
        self._popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """kill -9: no clean-up of any kind, as when a machine loses a process."""
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.send_signal(signal.SIGKILL)
            popen.wait(timeout=_STOP_GRACE_SECONDS)
            self.kills += 1
        self._close_log()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period. Idempotent."""
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=_STOP_GRACE_SECONDS)
        self._close_log()

    def supervise(self) -> bool:
        """Start the process again when it ended on its own; whether it had."""
        if self._popen is None or self._popen.poll() is None:
            return False
        self.exits.append(int(self._popen.returncode))
        self._popen = None
        self.start()
        return True

    def tail(self, limit: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
        return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def resident_megabytes(pid: int | None) -> float | None:
    """A process's resident memory (Linux ``/proc``), or ``None`` when it is gone."""
    if pid is None:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None
