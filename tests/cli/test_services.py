"""`edx up`, `edx router run`, `edx tracker run`, `edx topics init` as real processes.

Each runs the installed `edx` in a subprocess, waits until it serves (metrics
endpoint, runtime file), then stops it the way an operator does (Ctrl-C, or
SIGTERM as a container stop) and checks it stops cleanly with exit status 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.directory import Agency, AgencyDirectory, publish_agency
from bus.embedded import DIRECTORY_SNAPSHOT, RUNTIME_FILE, EmbeddedBroker, free_port
from bus.settings import load_settings
from bus.topics import describe_topic_configs
from demo import register_agencies
from signing import DevPki
from tests.fixtures.broker import topic_names, unique_name
from tests.fixtures.demo import EDX, clean_env, run_edx
from tests.restart_scenario import documents_across_a_restart
from tests.service_processes import topic_environment

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def topic_env(prefix: str) -> dict[str, str]:
    return {
        **topic_environment(topic_names(prefix)),
        "EDX_ROUTER_GROUP": f"{prefix}-router",
        "EDX_TRACKER_GROUP": f"{prefix}-tracker",
        "EDX_PARTITIONS": "2",
    }


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_up(up: subprocess.Popen[str], cwd: Path) -> None:
    """Wait until ``edx up`` in ``cwd`` says Ctrl-C stops it: from then on a SIGINT
    stops a running bus (exit 0); before, it interrupts the start (exit 130)."""
    log = cwd / "output.log"

    def said() -> bool:
        assert up.poll() is None, log.read_text()
        return "Ctrl-C stops the bus." in log.read_text()

    wait_for(said, 90, "edx up to be up")


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text as {(sample name, sorted labels): value}."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@contextmanager
def running(args: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A background `edx` process whose output goes to cwd/output.log; killed if left running."""
    log = (cwd / "output.log").open("w")
    process = subprocess.Popen(
        [str(EDX), *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def stop(process: subprocess.Popen[str], signum: signal.Signals, timeout: float = 30) -> int:
    process.send_signal(signum)
    return process.wait(timeout=timeout)


def test_up_runs_the_embedded_bus_until_ctrl_c(tmp_path: Path) -> None:
    port, metrics = free_port(), free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    runtime = tmp_path / ".edx" / RUNTIME_FILE
    with running(["up", "--metrics-port", str(metrics)], tmp_path, env) as up:
        wait_for(runtime.exists, 60, "the runtime file of edx up")
        info = json.loads(runtime.read_text())
        assert info["bootstrap"] == f"127.0.0.1:{port}", "the port of EDX_BOOTSTRAP, when free"
        assert info["pid"] == up.pid
        body = scrape(metrics)
        assert body is not None
        assert "edx_packages_submitted_total" in body
        assert "edx_consumer_lag" in body

        # Other terminals use it with the printed settings ...
        init = run_edx("topics", "init", "--agency", "000.00.00.H41", cwd=tmp_path, env=env)
        assert init.returncode == 0, init.stderr
        assert "edx.inbox.000.00.00.H41" in init.stdout
        # ... the demo uses the running bus instead of starting its own ...
        demo = run_edx("demo", cwd=tmp_path, env=env, timeout=120)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert f"using the embedded bus running at 127.0.0.1:{port}" in demo.stdout
        assert "5 documents exchanged and tracked" in demo.stdout
        assert up.poll() is None, "the bus outlives the demo"
        # ... and the operator's monitoring saw the exchange.
        after = samples(scrape(metrics) or "")
        assert after[("edx_packages_submitted_total", ())] >= 5 + 8 * 2
        assert after[("edx_packages_delivered_total", ())] >= 8 + 2 + 3 + 1 + 3
        assert after[("edx_statuses_total", (("code", "01"),))] >= 17
        assert after[("edx_statuses_total", (("code", "02"),))] == 1
        assert after[("edx_statuses_total", (("code", "15"),))] == 3
        assert after[("edx_tracker_events_total", (("kind", "SUBMITTED"),))] >= 5
        assert any(name == "edx_consumer_lag" for name, _ in after)
        # ... and a second bus for the same state directory is refused.
        second = run_edx("up", cwd=tmp_path, env=env)
        assert second.returncode != 0
        assert "already runs" in second.stderr

        assert stop(up, signal.SIGINT) == 0
    output = (tmp_path / "output.log").read_text()
    assert f"edxbus is up: broker 127.0.0.1:{port}" in output
    assert f"export EDX_BOOTSTRAP=127.0.0.1:{port}" in output
    assert "edxbus stopped" in output
    assert "Traceback" not in output
    assert not runtime.exists()
    assert (tmp_path / ".edx" / "tracker.db").is_file(), "state survives the bus"
    assert (tmp_path / ".edx" / "pki" / "root" / "cert.pem").is_file()


@pytest.mark.parametrize("service", ["router", "tracker"])
def test_service_runs_in_the_foreground_and_stops_on_sigterm(
    service: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    DevPki.init(tmp_path / "pki")
    metrics = free_port()
    env = clean_env(
        EDX_BOOTSTRAP=kafka_bootstrap,
        EDX_HOME=str(tmp_path),
        EDX_PKI=str(tmp_path / "pki"),
        EDX_METRICS_PORT=str(metrics),
        EDX_LOG_FORMAT="json",
        **topic_env(unique_name()),
    )
    subprocess.run(
        [str(EDX), "topics", "init"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with running([service, "run"], tmp_path, env) as process:
        wait_for(lambda: scrape(metrics) is not None, 60, f"the {service}'s metrics")
        time.sleep(1.0)  # let it join its group and poll, so the stop interrupts real work
        assert process.poll() is None, (tmp_path / "output.log").read_text()
        assert stop(process, signal.SIGTERM) == 0
    output = (tmp_path / "output.log").read_text()
    assert "Traceback" not in output
    for line in output.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every log line is one JSON object


def test_topics_init_is_idempotent_and_creates_what_the_code_expects(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = unique_name()
    env = clean_env(EDX_BOOTSTRAP=kafka_bootstrap, EDX_HOME=str(tmp_path), **topic_env(prefix))
    for _ in range(2):
        done = run_edx("topics", "init", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    settings = load_settings(environ=env)
    configs = asyncio.run(describe_topic_configs(settings, settings.topics.agencies))
    if configs:  # a broker that can describe configs must show the compaction
        assert "compact" in configs.get("cleanup.policy", "")


def test_a_broker_that_does_not_answer_is_one_clear_line(tmp_path: Path) -> None:
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{free_port()}", EDX_HOME=str(tmp_path))
    done = run_edx("topics", "init", cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


def test_up_gives_a_restarted_broker_back_its_agency_directory(
    tmp_path: Path,
) -> None:
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    settings = load_settings(environ=env, home=tmp_path / ".edx")
    agency = Agency.new("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An")
    with running(["up"], tmp_path, env) as up:
        wait_until_up(up, tmp_path)
        asyncio.run(publish_agency(settings, agency))
        assert stop(up, signal.SIGINT) == 0
    snapshot = tmp_path / ".edx" / DIRECTORY_SNAPSHOT
    assert "Nghệ An" in snapshot.read_text(encoding="utf-8")

    with running(["up"], tmp_path, env) as up:  # a new, empty embedded broker
        wait_until_up(up, tmp_path)
        directory = asyncio.run(AgencyDirectory.load(settings))
        assert stop(up, signal.SIGINT) == 0
    restored = directory.get("000.00.00.H41")
    assert restored is not None
    assert restored.name == agency.name
    assert restored.level == 1


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_a_killed_edx_up_takes_its_broker_along_and_the_next_one_starts(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    runtime = tmp_path / ".edx" / RUNTIME_FILE
    with running(["up"], tmp_path, env) as up:
        wait_for(runtime.exists, 60, "edx up")
        broker = json.loads(runtime.read_text())["broker_pid"]
        assert _alive(broker)
        up.kill()  # SIGKILL: no handler, no clean stop
        up.wait(timeout=10)
    wait_for(lambda: not _alive(broker), 15, "the broker to die with its edx up")
    assert runtime.exists(), "left behind by the killed process"

    with running(["up"], tmp_path, env) as again:
        wait_for(lambda: "edxbus is up" in (tmp_path / "output.log").read_text(), 60, "edx up")
        info = json.loads(runtime.read_text())
        assert info["pid"] == again.pid
        assert info["bootstrap"] == f"127.0.0.1:{port}", "the port was free again"
        assert stop(again, signal.SIGTERM) == 0
    assert not runtime.exists()


def test_a_stale_runtime_file_and_the_broker_it_left_are_cleared(tmp_path: Path) -> None:
    """A dead edx up whose broker outlived it (as before brokers died with their parent)."""
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    home = tmp_path / ".edx"
    home.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = EmbeddedBroker(log_path=tmp_path / "orphan.log")
    orphan.start()
    try:
        (home / RUNTIME_FILE).write_text(
            json.dumps({"bootstrap": orphan.bootstrap, "pid": dead.pid, "broker_pid": orphan.pid})
        )
        with running(["up"], tmp_path, env) as up:
            wait_for(lambda: "edxbus is up" in (tmp_path / "output.log").read_text(), 60, "up")
            assert json.loads((home / RUNTIME_FILE).read_text())["pid"] == up.pid
            assert not orphan.running, "the broker the dead bus left is stopped"
            assert stop(up, signal.SIGTERM) == 0
    finally:
        orphan.stop()


def test_sdk_clients_carry_on_across_a_sigterm_restart_of_edx_up(tmp_path: Path) -> None:
    """The operator restarts `edx up` (SIGTERM, start again) while the agencies' software
    runs: every pending document is recovered, none reaches the recipient twice."""
    port = free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    settings = load_settings(environ=env, home=tmp_path / ".edx")
    runtime = tmp_path / ".edx" / RUNTIME_FILE

    def start_up() -> subprocess.Popen[str]:
        log = (tmp_path / "output.log").open("a")
        try:
            return subprocess.Popen(
                [str(EDX), "up"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()

    async def until_running(up: subprocess.Popen[str]) -> None:
        for _ in range(600):
            if runtime.exists() and json.loads(runtime.read_text())["pid"] == up.pid:
                return
            assert up.poll() is None, (tmp_path / "output.log").read_text()
            await asyncio.sleep(0.1)
        raise AssertionError("edx up did not start")

    async def scenario() -> tuple[list[str], list[str]]:
        up = start_up()

        async def stop_up() -> None:
            up.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(up.wait, 60) == 0

        async def start_again() -> None:
            nonlocal up
            up = start_up()
            await until_running(up)

        try:
            await until_running(up)
            await register_agencies(settings)
            done = await documents_across_a_restart(settings, stop_up, start_again)
            await stop_up()
        finally:
            if up.poll() is None:
                up.kill()
                up.wait(timeout=10)
        return done

    taken, everything = asyncio.run(scenario())
    assert sorted(taken) == sorted(everything), "each document taken once"
