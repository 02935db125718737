"""Gateway benchmark: sends per second and p99 through /vxp and /api/v1, beside the SDK.

Sixteen concurrent clients each send unsigned 5 KB documents; a send counts when the
gateway answered OK, that is when the package was signed in custody, kept in the
sender's outbox (SQLite, fsync) and published to ``edx.submit`` (acks=all). The floor
of the same run is the SDK's own ``AgencyClient.send()`` (build, strict parse, sign,
outbox, publish) from sixteen concurrent tasks in one process. The gateway runs as its
own process (``edx gateway run``) on a Tansu broker started for the run.

    .venv/bin/python -m bench.bench_gateway [--documents N] [--clients C]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

from agency_client import AgencyClient
from bench._documents import RECIPIENT, SENDER, bench_document
from bus import Agency, Settings, publish_agency
from bus.embedded import EmbeddedBroker, free_port
from bus.settings import TopicNames
from edxml import DocumentPackage, build
from gateway import GatewayConfig, SystemRegistry, open_gateway_engine, sdk_hash_file
from gateway.api_auth import RequestSigner
from gateway.vxp_auth import sign_parameters
from signing import DevPki

SDK_SENDER = "000.00.00.H41"
PADDING = 200  # bytes of attachment: a signed package of about 5 KB
EDX = Path(sys.executable).with_name("edx")


def _document(sender: str, number: int) -> DocumentPackage:
    return bench_document(sender, number, PADDING, "Về việc đo hiệu năng cổng kết nối")


@dataclasses.dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float


async def _drive(sends: list[Callable[[], Awaitable[None]]], clients: int) -> Figures:
    queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
    for send in sends:
        queue.put_nowait(send)
    latencies: list[float] = []

    async def client() -> None:
        while not queue.empty():
            send = queue.get_nowait()
            began = time.perf_counter()
            await send()
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - began
    cut = statistics.quantiles(latencies, n=100)
    return Figures(len(sends) / elapsed, statistics.median(latencies), cut[98])


def _vxp_send(http: httpx.AsyncClient, url: str, package: bytes) -> Callable[[], Awaitable[None]]:
    headers = sign_parameters(
        "vp.bench",
        "bench-secret-01",
        [
            ("servicetype", "eDoc"),
            ("messagetype", "edoc"),
            ("hash-file", sdk_hash_file(package)),
            ("timestamp", "29112026T103345+0585"),
            ("Content-Type", "application/octet-stream"),
        ],
    )
    headers["Content-Type"] = "application/octet-stream"

    async def send() -> None:
        answer = (
            await http.post(f"{url}/vxp/sendEdoc", headers=headers, content=package + b"\r\n")
        ).json()
        if answer["status"] != "OK":
            raise RuntimeError(f"sendEdoc refused: {answer}")

    return send


def _native_send(
    http: httpx.AsyncClient, url: str, package: bytes
) -> Callable[[], Awaitable[None]]:
    signer = RequestSigner("vp.bench", "bench-secret-01")

    async def send() -> None:
        headers = signer.headers("POST", "/api/v1/documents", package)
        headers.update({"Content-Type": "application/xml", "Idempotency-Key": str(uuid.uuid4())})
        response = await http.post(f"{url}/api/v1/documents", headers=headers, content=package)
        if response.status_code != 201:
            raise RuntimeError(f"native send refused: {response.text}")

    return send


@contextlib.contextmanager
def _gateway(settings: Settings, config: GatewayConfig, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDX_")}
    env.update(
        EDX_HOME=str(settings.home),
        EDX_BOOTSTRAP=settings.broker.bootstrap,
        EDX_PKI=str(settings.resolved_pki),
        EDX_GATEWAY_DB_URL=config.db_url,
        EDX_GATEWAY_HOME=str(config.state_dir),
        EDX_GATEWAY_RATE="0",
    )
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen(
        [str(EDX), "gateway", "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start (see gateway.log)")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()


async def run(documents: int, clients: int) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        home = Path(tmp)
        pki = DevPki.init(home / "pki")
        for code in (SENDER, RECIPIENT, SDK_SENDER):
            pki.issue(code, f"Agency {code}")
        settings = Settings.of(
            home=home,
            bootstrap=broker.bootstrap,
            pki=home / "pki",
            topics=TopicNames(),
            partitions=3,
        )
        for code in (SENDER, RECIPIENT, SDK_SENDER):
            await publish_agency(
                settings,
                Agency.new(
                    code, f"Agency {code}", cert_fingerprints=[pki.signer(code).fingerprint]
                ),
            )
        config = GatewayConfig(
            db_url=f"sqlite:///{home / 'gateway' / 'gateway.db'}",
            state_dir=home / "gateway",
            max_upload_bytes=1 << 20,
        )
        engine = open_gateway_engine(config.db_url)
        SystemRegistry(engine).add("vp.bench", [SENDER], "bench-secret-01")
        engine.dispose()
        size = len(pki.signer(SENDER).sign(build(_document(SENDER, 0))))

        async with AgencyClient(settings, SDK_SENDER, hand_over_statuses=False) as sdk:

            async def sdk_send(package: DocumentPackage) -> None:
                await sdk.send(package)

            warm = [_document(SDK_SENDER, n) for n in range(10)]
            await _drive([lambda p=p: sdk_send(p) for p in warm], clients)
            packages = [_document(SDK_SENDER, 1000 + n) for n in range(documents)]
            floor = await _drive([lambda p=p: sdk_send(p) for p in packages], clients)

        with _gateway(settings, config, home) as url:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(timeout=120, limits=limits) as http:
                warm_bytes = [build(_document(SENDER, n)) for n in range(10)]
                await _drive([_vxp_send(http, url, b) for b in warm_bytes], clients)
                vxp = await _drive(
                    [
                        _vxp_send(http, url, build(_document(SENDER, 2000 + n)))
                        for n in range(documents)
                    ],
                    clients,
                )
                native = await _drive(
                    [
                        _native_send(http, url, build(_document(SENDER, 4000 + n)))
                        for n in range(documents)
                    ],
                    clients,
                )

    print(f"package size                              {size} bytes (signed, RSA-SHA256)")
    print(
        f"clients                                   {clients} concurrent, "
        f"{documents} documents each way"
    )
    for name, figures in (
        ("SDK AgencyClient.send() (floor)", floor),
        ("gateway /vxp sendEdoc", vxp),
        ("gateway /api/v1 POST /documents", native),
    ):
        print(
            f"{name:40}  {figures.rate:7.1f} sends/s   p50 {figures.p50_ms:7.1f} ms   "
            f"p99 {figures.p99_ms:7.1f} ms"
        )
    print(f"ratio /vxp / SDK                          {vxp.rate / floor.rate:7.2f}")
    print(f"ratio /api/v1 / SDK                       {native.rate / floor.rate:7.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv if argv is not None else [])
    asyncio.run(run(args.documents, args.clients))


if __name__ == "__main__":
    main(sys.argv[1:])
