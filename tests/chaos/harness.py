"""A bus of real processes to hurt: a Tansu broker, ``edx router run``, ``edx tracker run``,
one sending agency and its recipients as application processes.

:class:`ChaosBus` starts them in a directory of its own (broker on a free port, so
a broker restart wipes this run's data and nobody else's), keeps a record of the
faults it injects, samples progress so recovery can be timed, waits for the
outcome with bounded polls, and counts what the applications' journals say.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bus import Agency, Settings, ensure_topics, publish_agency
from bus.embedded import EmbeddedBroker, free_port
from signing import DevPki
from tests.chaos.journal import Entry, read_journal
from tests.chaos.processes import Process
from tests.chaos.tally import Deliveries, count_deliveries
from tests.fixtures.demo import EDX, clean_env
from tests.tracker.tcp_proxy import TcpProxy

__all__ = [
    "AGENCIES",
    "ALL",
    "RECIPIENTS",
    "SENDER",
    "TRACKER",
    "ChaosBus",
    "Fault",
    "Outcome",
    "Size",
]

REPO = Path(__file__).resolve().parents[2]
SENDER = "000.00.00.H41"  # UBND Tỉnh Nghệ An
RECIPIENTS = ("000.00.00.H44", "000.00.24.H44", "000.01.00.H41")
FORGER = "000.00.00.G22"  # a real agency that signs packages claiming to be another
AGENCIES = (SENDER, *RECIPIENTS, FORGER)
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLE_EVERY_SECONDS = 0.25


@dataclass(frozen=True)
class Size:
    """How big a run is: CI runs a small one, the benchmark a larger one."""

    documents: int
    faults: int
    recipients: int
    hostile: int
    wait_seconds: float
    pause: float = 0.05  # between two documents of the sender
    # The outbox re-submits after this much silence: short, so a lost copy comes back
    # soon, but long enough that 01s in flight are not overtaken by re-submissions.
    resubmit_after: float = 3.0


#: The progress counts a fault can be timed against (besides one recipient's code).
ALL = "all"
TRACKER = "tracker"


@dataclass(frozen=True)
class Fault:
    what: str
    at: float
    recovered_at: float  # when the faulty part was back (restarted, reconnected)
    watch: str  # which progress count shows the part works again


@dataclass(frozen=True)
class Outcome:
    """What one scenario did and measured; :meth:`line` is what it prints."""

    scenario: str
    seed: int
    deliveries: Deliveries
    faults: int
    recovery_seconds: float | None
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        d = self.deliveries
        recovery = "never" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f}"
        figures = [
            f"chaos {self.scenario}: seed={self.seed}",
            f"sent={d.sent}",
            f"faults={self.faults}",
            f"lost={d.lost}",
            f"twice={d.twice}",
            f"recovery_s={recovery}",
            f"excused={d.excused}",
            f"unknown={d.unknown}",
            *(f"{k}={v}" for k, v in self.extra.items()),
        ]
        return " ".join(figures)


def postgres_server() -> str:
    return os.environ.get("EDX_TEST_DATABASE_URL", LOCAL_POSTGRES)


class ChaosBus:
    """The processes of one scenario and what happened to them."""

    def __init__(
        self,
        workdir: Path,
        pki: DevPki,
        size: Size,
        *,
        postgres: bool = False,
        max_package_bytes: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.pki = pki
        self.size = size
        self.recipients = RECIPIENTS[: size.recipients]
        self.faults: list[Fault] = []
        self._postgres = postgres
        self._databases: list[str] = []
        self.proxies: list[TcpProxy] = []
        self._max_package_bytes = max_package_bytes
        self.broker = EmbeddedBroker(port=free_port(), log_path=workdir / "tansu.log")
        self.processes: dict[str, Process] = {}
        self._sampler: asyncio.Task[None] | None = None
        self.sender_started_at: float | None = None
        self.completed_at: float | None = None
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.watch_tracker = False
        self.progress_totals = {
            ALL: size.documents * len(self.recipients),
            TRACKER: size.documents,
            **{code: size.documents for code in self.recipients},
        }

    # --- set-up ----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _start(self) -> None:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        router_db = f"sqlite:///{self.workdir / 'router.db'}"
        tracker_db = f"sqlite:///{self.workdir / 'tracker.db'}"
        self.tracker_db_direct = tracker_db
        if self._postgres:
            router_db = await self._proxied_database("router")
            tracker_db = await self._proxied_database("tracker")
        self.broker.start()
        self.settings = Settings.of(
            home=home,
            bootstrap=self.broker.bootstrap,
            pki=self.pki.directory,
            partitions=2,
            router_db_url=router_db,
            db_url=tracker_db,
            resubmit_after_seconds=self.size.resubmit_after,
        ).with_overrides(max_package_bytes=self._max_package_bytes)
        await self.prepare_broker()
        env = clean_env(
            EDX_HOME=str(home),
            EDX_BOOTSTRAP=self.settings.broker.bootstrap,
            EDX_PKI=str(self.pki.directory),
            EDX_PARTITIONS="2",
            EDX_ROUTER_DB_URL=router_db,
            EDX_DB_URL=tracker_db,
            EDX_RESUBMIT_AFTER_SECONDS=str(self.size.resubmit_after),
            EDX_MAX_PACKAGE_BYTES=str(self.settings.packages.max_package_bytes),
            PYTHONUNBUFFERED="1",
        )
        self._add("router", [str(EDX), "router", "run"], env)
        self._add("tracker", [str(EDX), "tracker", "run"], env)
        app = [sys.executable, "-m", "tests.chaos.agency_app"]
        for code in self.recipients:
            self._add(code, [*app, "receive", str(self.journal_path(code)), code], env)
        self._add(
            SENDER,
            [
                *app,
                "send",
                str(self.journal_path(SENDER)),
                SENDER,
                *self.recipients,
                "--count",
                str(self.size.documents),
                "--pause",
                str(self.size.pause),
            ],
            env,
        )
        for process in self.processes.values():
            if process.name != SENDER:
                process.start()
        self._sampler = asyncio.create_task(self._sample())

    def _add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.processes[name] = Process(
            name, argv, env=env, cwd=REPO, log_path=self.workdir / f"{name}.log"
        )

    async def prepare_broker(self) -> None:
        """Topics and the agency directory, as ``edx up`` gives every (new) broker."""
        await ensure_topics(self.settings, agencies=AGENCIES)
        for code in AGENCIES:
            fingerprint = self.pki.signer(code).fingerprint
            await publish_agency(
                self.settings, Agency.new(code, f"Agency {code}", cert_fingerprints=[fingerprint])
            )

    async def _proxied_database(self, role: str) -> str:
        """A fresh PostgreSQL database of this run, reached through a proxy a scenario cuts."""
        server = make_url(postgres_server())
        name = f"edx_chaos_{uuid.uuid4().hex[:10]}_{role}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        self._databases.append(name)
        direct = server.set(database=name)
        if role == "tracker":
            self.tracker_db_direct = direct.render_as_string(hide_password=False)
        proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
        await proxy.restore()
        self.proxies.append(proxy)
        return direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        for process in self.processes.values():
            process.kill()
        self.broker.stop()
        for proxy in self.proxies:
            await proxy.cut()
        if self._databases:
            admin = create_engine(make_url(postgres_server()), isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    for name in self._databases:
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            finally:
                admin.dispose()

    # --- what the applications did ------------------------------------------------

    def journal_path(self, agency: str) -> Path:
        return self.workdir / f"{agency}.journal"

    def journal(self, agency: str) -> list[Entry]:
        return read_journal(self.journal_path(agency))

    def sent_count(self) -> int:
        return sum(1 for e in self.journal(SENDER) if e.kind == "sent")

    def sender_done(self) -> bool:
        return any(e.kind == "done" for e in self.journal(SENDER))

    def sender_pending(self) -> int | None:
        pending = [e for e in self.journal(SENDER) if e.kind == "pending"]
        return int(pending[-1].value) if pending else None

    def deliveries(self) -> Deliveries:
        return count_deliveries(
            self.journal(SENDER), {code: self.journal(code) for code in self.recipients}
        )

    def tracker_recorded(self) -> int:
        """Sent documents the tracker shows as delivered to every recipient."""
        sent = sum(1 for e in self.journal(SENDER) if e.kind == "sent")
        return sent - self.tracker_missing()

    def tracker_missing(self) -> int:
        """Sent documents the tracker does not show as delivered to every recipient."""
        sent = {e.value for e in self.journal(SENDER) if e.kind == "sent"}
        engine = create_engine(self.tracker_db_direct)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT document_id, recipient FROM deliveries "
                        "WHERE delivered_at IS NOT NULL"
                    )
                ).all()
        except Exception:  # the tracker has not created its schema yet
            return len(sent)
        finally:
            engine.dispose()
        have: dict[str, set[str]] = {}
        for document_id, recipient in rows:
            have.setdefault(document_id, set()).add(recipient)
        return sum(1 for d in sent if not set(self.recipients) <= have.get(d, set()))

    # --- faults ---------------------------------------------------------------

    def start_sender(self) -> None:
        self.sender_started_at = time.time()
        self.processes[SENDER].start()

    def record_fault(self, what: str, at: float, *, watch: str = ALL) -> None:
        self.faults.append(Fault(what, at, time.time(), watch))

    def supervise(self) -> None:
        for process in self.processes.values():
            process.supervise()

    async def wait_for(
        self, condition: Callable[[], bool], *, within: float, every: float = 0.25
    ) -> bool:
        """Poll ``condition`` (supervising the processes meanwhile) for up to ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            self.supervise()
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(every)

    async def wait_sent(self, count: int) -> None:
        reached = await self.wait_for(
            lambda: self.sent_count() >= count, within=self.size.wait_seconds
        )
        assert reached, f"the sender stopped at {self.sent_count()} documents\n{self.tails()}"

    # --- the outcome -----------------------------------------------------------

    async def settle(self, *, tracker: bool = False) -> bool:
        """Wait until every sent document reached every recipient (and the tracker), and
        the sender's outbox is settled; then three quiet seconds so a duplicate would show."""

        def complete() -> bool:
            if not self.sender_done():
                return False
            if self.deliveries().lost or self.sender_pending() != 0:
                return False
            return not (tracker and self.tracker_missing())

        done = await self.wait_for(complete, within=self.size.wait_seconds, every=0.5)
        if done:
            self.completed_at = time.time()
        await asyncio.sleep(3.0)
        return done

    def recovery_seconds(self) -> float | None:
        """The longest time from a part's recovery to the next progress it makes, over
        every fault.

        Each fault watches one count (:meth:`progress`): documents handed over to all
        applications, to one application, or recorded by the tracker. A fault after
        which nothing was left to do counts 0; a fault followed by no progress at all
        while work remained gives ``None`` (never recovered).
        """
        worst = 0.0
        for fault in self.faults:
            total = self.progress_totals[fault.watch]
            before = [n[fault.watch] for t, n in self.samples if t <= fault.recovered_at]
            base = before[-1] if before else 0
            after = [t for t, n in self.samples if t > fault.recovered_at and n[fault.watch] > base]
            if after:
                worst = max(worst, after[0] - fault.recovered_at)
            elif base < total:
                return None
        return worst

    def progress(self) -> dict[str, int]:
        """The counts faults are timed against (see :meth:`recovery_seconds`)."""
        counts = {
            code: len({e.value for e in self.journal(code) if e.kind == "got"})
            for code in self.recipients
        }
        counts[ALL] = sum(counts.values())
        if self.watch_tracker:
            counts[TRACKER] = self.tracker_recorded()
        return counts

    async def _sample(self) -> None:
        while True:
            counts = await asyncio.to_thread(self.progress)
            self.samples.append((time.time(), counts))
            await asyncio.sleep(SAMPLE_EVERY_SECONDS)

    def outcome(self, scenario: str, seed: int, **extra: object) -> Outcome:
        exits = {p.name: len(p.exits) for p in self.processes.values() if p.exits}
        elapsed = "never"
        if self.completed_at is not None and self.sender_started_at is not None:
            elapsed = f"{self.completed_at - self.sender_started_at:.1f}"
        figures: dict[str, object] = {
            "elapsed_s": elapsed,
            "pending": self.sender_pending(),
            "tracker_missing": self.tracker_missing(),
            "send_errors": sum(1 for e in self.journal(SENDER) if e.kind == "send-error"),
            **extra,
        }
        if exits:
            figures["exits"] = ",".join(f"{k}:{v}" for k, v in sorted(exits.items()))
        return Outcome(
            scenario, seed, self.deliveries(), len(self.faults), self.recovery_seconds(), figures
        )

    def tails(self, names: Sequence[str] = ()) -> str:
        chosen = names or list(self.processes)
        return "\n".join(f"--- {n}\n{self.processes[n].tail()}" for n in chosen)
