"""The auditor's replay: the Kafka log of ``edx.submit`` re-verified, independently of
the tracker, and compared with it (docs/AUDIT.md).

The tracker's tables are what clerks read; they are also what an insider could edit.
The log of ``edx.submit`` keeps every signed package forever, byte for byte. A replay
reads that log (never the tracker's tables) for a time window, re-verifies every
package through the one read path (:class:`bus.PackageReader`, the router's) at the
time the record was written, rebuilds each document's trail (the document package,
then every status about it), chains the steps with the same hash chain the tracker
uses, and then compares with the tracker, reporting every divergence:

- ``missing``: the log holds a signed package (or one of its recipients) that the
  tracker does not record;
- ``extra``: the tracker records a package or a recipient the log does not hold;
- ``altered``: both hold it, but the tracker's digest, sender, status or actor differ;
- ``unverified``: the tracker shows a package as accepted whose signature does not
  verify.

Time windows: records are selected by their own timestamps. ``offsets_for_times`` is
not exact on every broker (Tansu), so the first offset is found by a binary search over
record timestamps, started an hour early (producer clocks drift), and every record is
then filtered by its timestamp here.

The rebuilt trail can be exported as an Avro container file (``audit_trail.v1``) that
``edx trail --from-file`` reads back and re-checks.

One module a step, read top-down from :mod:`bus.audit.replay` (the pipeline):
``read`` (the window of ``edx.submit``), ``log`` (dating records by the transparency
log, and auditing it), ``verify`` (the read path's verdict on each package),
``compare`` (with the tracker), ``trails`` (rebuilt and hash-chained), ``export``
(the Avro file); ``model`` holds the values they pass along.
"""

from __future__ import annotations

from bus.audit.compare import compare_with_tracker
from bus.audit.export import read_trail_file, write_trail_file
from bus.audit.model import (
    AUDIT_HASHED_FIELDS,
    AuditedPackage,
    AuditStep,
    Divergence,
    DivergenceKind,
    LogRecord,
    ReplayReport,
    ReplayWindow,
)
from bus.audit.model import CLOCK_SKEW as CLOCK_SKEW  # kept importable from here
from bus.audit.read import read_submit_log
from bus.audit.replay import run_replay
from bus.audit.trails import build_trails
from bus.audit.verify import audit_record, verifier_from_settings

__all__ = [
    "AUDIT_HASHED_FIELDS",
    "AuditStep",
    "AuditedPackage",
    "Divergence",
    "DivergenceKind",
    "LogRecord",
    "ReplayReport",
    "ReplayWindow",
    "audit_record",
    "build_trails",
    "compare_with_tracker",
    "read_submit_log",
    "read_trail_file",
    "run_replay",
    "verifier_from_settings",
    "write_trail_file",
]
