"""``edx gateway run`` as a separate process, for tests that kill it (SIGKILL) and restart it."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bus import Settings
from bus.embedded import free_port
from gateway import GatewayConfig
from tests.fixtures.demo import EDX, clean_env


def gateway_env(settings: Settings, config: GatewayConfig, **extra: str) -> dict[str, str]:
    """The environment that makes ``edx gateway run`` use the test's topics and state."""
    env = clean_env(
        EDX_HOME=str(settings.home),
        EDX_BOOTSTRAP=settings.broker.bootstrap,
        EDX_PKI=str(settings.resolved_pki),
        EDX_RESUBMIT_AFTER_SECONDS=str(settings.delivery.resubmit_after_seconds),
        EDX_GATEWAY_DB_URL=config.db_url,
        EDX_GATEWAY_HOME=str(config.state_dir),
        EDX_GATEWAY_MAX_UPLOAD=str(config.max_upload_bytes),
    )
    for topic in dataclasses.fields(settings.topics):
        env[f"EDX_TOPIC_{topic.name.upper()}"] = getattr(settings.topics, topic.name)
    env.update(extra)
    return env


@dataclasses.dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    url: str

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)


@contextlib.contextmanager
def gateway_process(env: dict[str, str], workdir: Path) -> Iterator[GatewayProcess]:
    """A gateway process on a free port, answering /healthz; killed on exit if still alive."""
    port = free_port()
    log = (workdir / f"gateway-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(EDX), "gateway", "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the gateway exited: {_tail(workdir, port)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("the gateway did not answer /healthz")
            time.sleep(0.2)
        yield GatewayProcess(process, url)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        log.close()


def _tail(workdir: Path, port: int) -> str:
    return (workdir / f"gateway-{port}.log").read_text(errors="replace")[-2000:]
