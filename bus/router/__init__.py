"""The router (DESIGN.md §4): ``edx.submit`` -> recipients' inboxes, events, dead letters.

For each submitted record the router verifies and parses the package, decides
against its acceptance store whether it is new, a retry or a replay, then writes
the *unchanged bytes* to each recipient's ``edx.inbox.<code>`` that does not
have them yet and emits the lifecycle events. A refused package goes to
``edx.deadletter`` with reason headers (without its body when the body cannot be
written there: digest, size and reason stay) and a REJECTED event; a rejection
notice goes to the inbox of the agency whose directory-bound certificate
verifiably signed it, so a sender learns why even though it may read nothing but
its inbox, and records nobody signed (garbage, forged keys) land in no agency's
inbox. A re-submission of bytes already delivered everywhere is settled by its
digest, without a second verification, so the answers behind it do not wait.

Status packages: a status (01-16) is routed to the document's original sender
and only from one of the document's recipients; a take-back (13) only from the
original sender, to every recipient. Revocations, updates and replacements are
documents with DocumentIds of their own and are routed like any other.

Delivery is at-least-once with idempotent effects: offsets are committed only
after every inbox, event and dead-letter write of the batch is acknowledged and
the acknowledged deliveries are recorded; a crash in between means the batch is
handled again, and the store keeps recipients from getting a copy twice (unless
the crash fell between the acknowledgement and its recording, which receivers
absorb by deduplicating on the document id). A running router pipelines its
batches (the next fetched and checked, and earlier ones awaiting their
acknowledgements, while one is decided and sent) yet commits them in order, each
only after every batch before it: the guarantees are those of one batch at a
time (:mod:`bus.router.loop` says why). Routers scale by running more of them in
one consumer group; their stores must then be one database.

One record, top-down, one module per step:

- :mod:`bus.router.loop`: fetch batches of ``edx.submit``, run the steps, commit;
- :mod:`bus.router.checker`: check (size, signature, strict parse, directory);
- :mod:`bus.router.decider`: decide (new, retry, replay; who a status goes to);
- :mod:`bus.router.writer`: write (inbox copies, dead letters, notices, events);

beside them :mod:`bus.router.inboxes` (inbox topics and the copies in them),
:mod:`bus.router.workers` (worker processes for the checks),
:mod:`bus.router.memory` (a flat resident size), :mod:`bus.router.stats` (the
counters) and :mod:`bus.router.service` (:class:`Router`, which wires them, and
:func:`run_router`).

Run it with ``python -m bus.router`` (or ``edx router run``).
"""

from __future__ import annotations

from bus.router.service import Router, main, run_router
from bus.router.stats import RouterStats
from bus.verification import make_verifier

__all__ = ["Router", "RouterStats", "main", "make_verifier", "run_router"]
