"""edx commands that answer from the tracker and the log: ``status``, ``track``,
``trail`` and the auditor's ``replay``.

``status``, ``track`` and ``trail`` read the tracker's database (``EDX_DB_URL``,
default ``$EDX_HOME/tracker.db``); ``trail --from-file`` reads a trail exported by
``replay``. ``replay`` reads the Kafka log itself. Every command prints a readable
table, or one JSON document with ``--json``. ``trail`` exits 3 when a hash chain is
broken, ``replay`` when anything diverges or does not verify.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from bus import (
    DocumentStatus,
    Settings,
    TrackedDocument,
    TrackFilter,
    Trail,
    create_store_engine,
    document_status,
    document_trail,
)
from bus import track as track_query
from cli.options import EXIT_NOT_VERIFIED, current_settings, home_option, option_group
from cli.render import echo_json, table
from edxml import StatusCode

__all__ = ["COMMANDS"]

_store_options = option_group(
    home_option,
    click.option(
        "--db-url", default=None, metavar="URL", help="The tracker's database (EDX_DB_URL)."
    ),
    click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document instead of a table."
    ),
)


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    engine = create_store_engine(
        settings.resolved_db_url, must_exist=True, written_by="the tracker"
    )
    try:
        yield engine
    finally:
        engine.dispose()


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# --- edx status -------------------------------------------------------------------

_STEP_HEADERS = tuple(
    (code.value, code.meaning)
    for code in (
        StatusCode.ARRIVED,
        StatusCode.ACCEPTED,
        StatusCode.ASSIGNED,
        StatusCode.PROCESSING,
        StatusCode.COMPLETED,
        StatusCode.REFUSED,
    )
)


def _status_json(result: DocumentStatus) -> dict[str, Any]:
    data = asdict(result)
    data["recipients"] = [asdict(r) for r in result.recipients]
    return data


_as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Judge lateness as of DATE, not today in Vietnam.",
)


@click.command("status")
@click.argument("document_id")
@_as_of_option
@_store_options
def status(document_id: str, as_of: str | None, db_url: str | None, as_json: bool) -> None:
    """Who has DOCUMENT_ID: one row per recipient, its status and the time of each step."""
    with _engine(current_settings(db_url=db_url)) as engine:
        result = document_status(engine, document_id, today=_parse_day(as_of, "--as-of"))
    if as_json:
        echo_json(_status_json(result))
        return
    sender = f"{result.sender} {result.sender_name or ''}".strip()
    click.echo(f"document   {result.document_id}")
    click.echo(f"sender     {sender}")
    if result.subject:
        click.echo(f"subject    {result.subject}")
    due = result.due_date.isoformat() if result.due_date else "none"
    click.echo(f"submitted  {_when(result.submitted_at)}   due {due}")
    if result.rejected_reason:
        click.echo(f"rejected   {result.rejected_reason}")
    if result.taken_back_at:
        click.echo(f"take-back  requested {_when(result.taken_back_at)}")
    rows = [
        [
            r.recipient,
            r.name or "",
            r.level or "",
            r.status,
            r.status_words + (" (late)" if r.overdue else ""),
            _when(r.delivered_at),
            *(_when(r.steps.get(code)) for code, _ in _STEP_HEADERS),
        ]
        for r in result.recipients
    ]
    headers = [
        "recipient",
        "name",
        "level",
        "code",
        "status",
        "delivered",
        *(words for _, words in _STEP_HEADERS),
    ]
    click.echo(table(headers, rows))
    totals = ", ".join(f"{code} {count}" for code, count in result.totals.items())
    click.echo(f"{len(result.recipients)} recipients: {totals}")


# --- edx track --------------------------------------------------------------------

_COUNT_FIELDS = (
    "recipients",
    "delivered",
    "arrived",
    "accepted",
    "completed",
    "refused",
    "overdue",
)


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def _track_json(found: list[TrackedDocument]) -> list[dict[str, Any]]:
    return [
        {
            "document_id": d.document_id,
            "sender": d.sender,
            "subject": d.subject,
            "due_date": d.due_date,
            "submitted_at": d.submitted_at,
            "levels": [asdict(c) for c in d.levels],
            "total": {k: v for k, v in asdict(d.total).items() if k != "level"},
        }
        for d in found
    ]


@click.command("track")
@click.option("--from", "sender", metavar="CODE", help="Documents sent by CODE.")
@click.option("--to", "recipient", metavar="CODE", help="Count only recipient CODE.")
@click.option("--under", metavar="CODE", help="Count only recipients in CODE's subtree.")
@click.option("--level", type=click.IntRange(1, 4), help="Count only recipients of level N.")
@click.option(
    "--status",
    "status_",
    metavar="S",
    help="Count only recipients whose current status is S (code or word).",
)
@click.option("--overdue", is_flag=True, help="Count only recipients past the due date.")
@click.option("--since", metavar="DATE", help="Documents submitted on or after DATE.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="At most this many documents, newest first.",
)
@_as_of_option
@_store_options
def track(
    sender: str | None,
    recipient: str | None,
    under: str | None,
    level: int | None,
    status_: str | None,
    overdue: bool,
    since: str | None,
    limit: int,
    as_of: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Documents with per-level counts: delivered, arrived (01), accepted (03),
    completed (06), refused (02) and overdue (past DueDate without 06)."""
    cut = TrackFilter(
        sender=sender,
        recipient=recipient,
        under=under,
        level=level,
        status=status_,
        overdue=overdue,
        since=_parse_day(since, "--since"),
        limit=limit,
    )
    with _engine(current_settings(db_url=db_url)) as engine:
        found = track_query(engine, cut, today=_parse_day(as_of, "--as-of"))
    if as_json:
        echo_json(_track_json(found))
        return
    if not found:
        click.echo("no documents match")
        return
    rows: list[list[Any]] = []
    for doc in found:
        for counts in (*doc.levels, doc.total):
            label = (
                "all"
                if counts is doc.total
                else (f"level {counts.level}" if counts.level else "other")
            )
            first = counts is doc.levels[0] if doc.levels else counts is doc.total
            rows.append(
                [
                    doc.document_id if first else "",
                    (doc.due_date.isoformat() if doc.due_date else "") if first else "",
                    label,
                    *(getattr(counts, name) for name in _COUNT_FIELDS),
                ]
            )
    click.echo(table(["document", "due", "recipients at", *_COUNT_FIELDS], rows))
    click.echo(f"{len(found)} document(s)")


# --- edx trail --------------------------------------------------------------------


def _trail_json(trail: Trail) -> dict[str, Any]:
    return {
        "document_id": trail.document_id,
        "chain": {
            "intact": trail.check.intact,
            "broken_at": trail.check.broken_at,
            "why": trail.check.why,
            "length": trail.check.length,
        },
        "entries": [asdict(e) for e in trail.entries],
    }


def _echo_trail(trail: Trail) -> None:
    rows = [
        [
            e.sequence,
            _when(e.occurred_at),
            e.kind,
            e.actor,
            e.recipient or "",
            e.status_code or "",
            e.description or e.reason_code or "",
            f"{e.source_topic}/{e.source_partition}/{e.source_offset}",
            f"{e.events_topic}/{e.events_partition}/{e.events_offset}" if e.events_topic else "",
            e.row_hash[:12],
        ]
        for e in trail.entries
    ]
    click.echo(f"document {trail.document_id}")
    click.echo(
        table(
            [
                "#",
                "time (UTC)",
                "kind",
                "actor",
                "recipient",
                "code",
                "note",
                "submitted at",
                "event at",
                "hash",
            ],
            rows,
        )
    )
    if trail.check.intact:
        click.echo(f"hash chain intact: {trail.check.length} step(s)")
    else:
        click.echo(f"hash chain BROKEN at step {trail.check.broken_at}: {trail.check.why}")


@click.command("trail")
@click.argument("document_id", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the trail exported by `edx replay --out` instead of the tracker.",
)
@_store_options
def trail(
    document_id: str | None, from_file: Path | None, db_url: str | None, as_json: bool
) -> None:
    """The whole ordered history of DOCUMENT_ID with its hash chain checked (exit 3 if broken).

    With --from-file, every document in the file is shown unless DOCUMENT_ID is given.
    """
    if from_file is not None:
        from bus import read_trail_file

        trails = read_trail_file(from_file, document_id)
    elif document_id is None:
        raise click.UsageError("give DOCUMENT_ID, or --from-file FILE")
    else:
        with _engine(current_settings(db_url=db_url)) as engine:
            trails = [document_trail(engine, document_id)]
    if as_json:
        echo_json(
            _trail_json(trails[0])
            if len(trails) == 1 and document_id
            else [_trail_json(t) for t in trails]
        )
    else:
        for index, one in enumerate(trails):
            if index:
                click.echo("")
            _echo_trail(one)
    if not all(t.check.intact for t in trails):
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED)


# --- edx replay -------------------------------------------------------------------


def _parse_moment(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date or time (ISO 8601)", param_hint=option
        ) from None
    if len(value) <= 10:  # a bare date
        moment = datetime.combine(moment.date(), time(), UTC)
        if end_of_day:
            moment += timedelta(days=1) - timedelta(microseconds=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@click.command("replay")
@click.option("--since", metavar="DATE", help="Packages submitted on or after DATE (UTC).")
@click.option("--until", metavar="DATE", help="Packages submitted up to DATE (inclusive).")
@click.option("--agency", metavar="CODE", help="Only packages sent by or addressed to CODE.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Export the verified trail as an Avro container file.",
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@_store_options
def replay(
    since: str | None,
    until: str | None,
    agency: str | None,
    out: Path | None,
    no_progress: bool,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Re-verify every package on edx.submit, rebuild each document's trail, compare it
    with the tracker and report every divergence (exit 3 when any)."""
    from bus import ReplayWindow, run_replay

    settings = current_settings(db_url=db_url)
    window = ReplayWindow(
        since=_parse_moment(since, "--since"),
        until=_parse_moment(until, "--until", end_of_day=True),
        agency=agency,
    )
    if no_progress or as_json:
        # No bar at all: even an idle click bar prints its label, and ``--json``
        # output must be one JSON document and nothing else.
        report = asyncio.run(run_replay(settings, window, out=out))
    else:
        with click.progressbar(
            length=1, label="replaying edx.submit", file=None, show_pos=True
        ) as bar:
            state = {"total": 0}

            def progress(done: int, total: int) -> None:
                if total != state["total"]:
                    bar.length = max(total, 1)
                    state["total"] = total
                bar.update(done - bar.pos)

            report = asyncio.run(run_replay(settings, window, out=out, progress=progress))
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.summary())
        if report.divergences:
            click.echo(
                table(
                    ["kind", "document", "recipient", "what", "submitted at"],
                    [
                        [d.kind, d.document_id, d.recipient or "", d.what, d.coordinates or ""]
                        for d in report.divergences
                    ],
                )
            )
        if out is not None:
            click.echo(f"verified trail written to {out}")
    if not report.clean:
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED)


COMMANDS: list[click.Command] = [status, track, trail, replay]
