"""edx commands of the transparency log: ``log run``, ``log checkpoint``, ``log prove``,
``log consistency``.

``run`` is the log service in the foreground. The others read the log's database
(``EDX_LOG_DB_URL``, default ``$EDX_HOME/log.db``) and the log's verifier key
(``$EDX_PKI/log/note.pub``), and print only what they checked: a checkpoint whose
signature verifies, proofs that lead to its root. ``--json`` prints one document
with the proofs in base64, as RFC 9162 orders them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterator

import click

from agency_client import CheckpointWatcher, LogRewrittenError
from bus import (
    LeafProof,
    LeafRecord,
    NoCheckpointError,
    StoredCheckpoint,
    audit_log,
    checkpoint_now,
    configure_logging,
    consistency_between,
    log_store,
    prove_document,
    prove_leaf,
    run_log,
)
from cli.foreground import run_until_stopped
from cli.options import EXIT_NOT_VERIFIED, current_settings, home_option, json_option
from cli.render import echo_json, table
from signing import TransparencyError, load_log_verifier, open_checkpoint

__all__ = ["COMMANDS"]


@contextlib.contextmanager
def _verification() -> Iterator[None]:
    """A proof or checkpoint that does not check out: one line, exit status 3."""
    try:
        yield
    except (TransparencyError, LogRewrittenError) as error:
        click.echo(f"not verified: {error} [{error.reason_code}]", err=True)
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED) from error


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@click.group("log")
def log_group() -> None:
    """The transparency log: router decisions as Merkle leaves, signed checkpoints, proofs."""


@log_group.command("run")
@home_option
def log_run() -> None:
    """Run the log service in the foreground (one per log database)."""
    settings = current_settings()
    configure_logging(settings)
    asyncio.run(run_until_stopped(settings, run_log))


def _checkpoint_json(stored: StoredCheckpoint) -> dict[str, object]:
    return {
        "tree_size": stored.tree_size,
        "root_hash": _b64(stored.root_hash),
        "created_at": stored.created_at,
        "note": stored.note.decode(),
        "timestamp_reply": None if stored.timestamp_token is None else _b64(stored.timestamp_token),
    }


@log_group.command("checkpoint")
@click.option("--new", "make_new", is_flag=True, help="Make, time-stamp and publish one now.")
@home_option
@json_option
def log_checkpoint(make_new: bool, as_json: bool) -> None:
    """Print the latest checkpoint (its signature checked), or make one with --new."""
    settings = current_settings()
    if make_new:
        stored = asyncio.run(checkpoint_now(settings))
    else:
        with log_store(settings) as store:
            latest = store.checkpoint()
        if latest is None:
            raise NoCheckpointError("the log has published no checkpoint yet")
        stored = latest
    with _verification():
        open_checkpoint(stored.note, [load_log_verifier(settings.resolved_pki)])
    if as_json:
        echo_json(_checkpoint_json(stored))
        return
    click.echo(stored.note.decode(), nl=False)
    stamped = "time-stamped" if stored.timestamp_token is not None else "not time-stamped"
    click.echo(f"# signature verified; {stamped}; made {stored.created_at.isoformat()}")


def _proof_rows(proofs: list[LeafProof]) -> list[list[object]]:
    rows: list[list[object]] = []
    for proof in proofs:
        leaf = LeafRecord.decode(proof.record)
        rows.append(
            [
                proof.index,
                leaf.decision.value,
                leaf.kind,
                leaf.sender,
                leaf.digest[:16],
                len(proof.proof),
            ]
        )
    return rows


@log_group.command("prove")
@click.argument("document_id", required=False)
@click.option("--leaf", "leaf_index", type=click.IntRange(0), default=None, help="A leaf index.")
@home_option
@json_option
def log_prove(document_id: str | None, leaf_index: int | None, as_json: bool) -> None:
    """Prove a document's leaves (or one leaf) are in the latest checkpoint."""
    if (document_id is None) == (leaf_index is None):
        raise click.UsageError("give a DOCUMENT_ID or --leaf N, not both")
    settings = current_settings()
    with _verification():
        if leaf_index is not None:
            stored, one = prove_leaf(settings, leaf_index)
            proofs = [one]
        else:
            assert document_id is not None
            stored, proofs = prove_document(settings, document_id)
    if as_json:
        echo_json({"checkpoint": stored.note.decode(), "proofs": [p.as_json() for p in proofs]})
        return
    click.echo(f"checkpoint: {stored.tree_size} leaves, root {_b64(stored.root_hash)}")
    click.echo(
        table(["leaf", "decision", "kind", "sender", "digest", "proof hashes"], _proof_rows(proofs))
    )
    click.echo(f"{len(proofs)} inclusion proof(s) verified against the signed checkpoint")


@log_group.command("consistency")
@click.argument("old_size", type=click.IntRange(0))
@click.argument("new_size", type=click.IntRange(0))
@home_option
@json_option
def log_consistency(old_size: int, new_size: int, as_json: bool) -> None:
    """Prove the checkpoint of NEW_SIZE leaves extends the one of OLD_SIZE leaves."""
    with _verification():
        answer = consistency_between(current_settings(), old_size, new_size)
    if as_json:
        echo_json(
            {
                "old_size": answer.old.size,
                "old_root": _b64(answer.old.root_hash),
                "new_size": answer.new.size,
                "new_root": _b64(answer.new.root_hash),
                "consistency_proof": [_b64(h) for h in answer.proof],
            }
        )
        return
    click.echo(
        f"the tree of {answer.new.size} leaves extends the tree of {answer.old.size} leaves "
        f"({len(answer.proof)} proof hashes, verified)"
    )


@log_group.command("watch")
@home_option
def log_watch() -> None:
    """Check every checkpoint published since the last watch extends the one seen before.

    Keeps the latest verified checkpoint in ``$EDX_HOME/checkpoints/latest.note``;
    a rewritten or forked log exits 3 with ``[log-rewritten]``.
    """
    settings = current_settings()
    watcher = CheckpointWatcher(
        load_log_verifier(settings.resolved_pki),
        state_path=settings.home / "checkpoints" / "latest.note",
    )
    with _verification():
        advanced = asyncio.run(watcher.catch_up(settings))
    latest = watcher.latest
    if latest is None:
        click.echo("no checkpoint published yet")
        return
    click.echo(
        f"latest verified checkpoint: {latest.checkpoint.size} leaves "
        f"({advanced} new, each consistent with the one before)"
    )


@log_group.command("audit")
@home_option
@json_option
def log_audit(as_json: bool) -> None:
    """Check the stored leaves, every signed checkpoint and the Kafka records they name.

    Exits 3 when a leaf was altered, history rewritten, or a record the log names
    is gone or different.
    """
    result = asyncio.run(audit_log(current_settings()))
    if as_json:
        echo_json(
            {
                "leaves": result.leaves,
                "checkpoints": result.checkpoints,
                "ok": result.ok,
                "findings": [
                    {"kind": f.kind.value, "leaf_index": f.leaf_index, "detail": f.detail}
                    for f in result.findings
                ],
            }
        )
    else:
        for finding in result.findings:
            click.echo(f"FAIL leaf {finding.leaf_index}: {finding.detail} [{finding.kind}]")
        verdict = "agree" if result.ok else "DISAGREE"
        click.echo(
            f"{result.leaves} leaves, {result.checkpoints} checkpoints and the Kafka records "
            f"they name {verdict}"
        )
    if not result.ok:
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED)


COMMANDS = [log_group]
