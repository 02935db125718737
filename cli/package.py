"""edx validate / edx show: check EDXML files and look inside them.

``validate`` prints one line per file (``OK``, the deviations, or the error) and
exits 0 only when every file passes: in the default tolerant mode a file passes
when it departs from the standard in nothing; with ``--strict`` when the strict
reader accepts it. A clerk's script tells the two ways of failing apart by the
exit code: 1 when every file reads but some depart from the standard (their
deviations are listed), 3 when some file cannot be read at all (or the strict
reader refuses it); 3 wins when both happen. ``show`` prints a readable view, or
with ``--json`` an object for scripts. Both read files only; they need no broker and no database.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.options import current_settings, read_input
from cli.render import echo_json, table
from edxml import (
    DocumentPackage,
    EdxbusError,
    Limits,
    Mode,
    ParseResult,
    StatusPackage,
    parse,
)

__all__ = ["COMMANDS"]

#: ``edx validate``: every file reads, some depart from the standard.
EXIT_DEVIATIONS = 1
#: ``edx validate``: some file cannot be read (or, with --strict, is refused).
EXIT_UNREADABLE = 3


def _pattern(option: str | None) -> str:
    return option or current_settings().packages.agency_pattern


_pattern_option = click.option(
    "--agency-pattern",
    metavar="REGEX",
    default=None,
    help="Regular expression agency codes must match (default: EDX_AGENCY_PATTERN).",
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Refuse anything that departs from the standard.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per file.")
@_pattern_option
def validate(
    files: Sequence[Path], strict: bool, as_json: bool, agency_pattern: str | None
) -> None:
    """Check EDXML packages: one line per FILE.

    Exit 0 when all pass, 1 when some only depart from the standard, 3 when some
    cannot be read (or are refused by --strict).
    """
    pattern = _pattern(agency_pattern)
    mode = Mode.STRICT if strict else Mode.TOLERANT
    verdicts = [_verdict(path, mode, pattern) for path in files]
    if as_json:
        echo_json(verdicts)
    else:
        for verdict in verdicts:
            click.echo(_verdict_line(verdict))
    if any("error" in verdict for verdict in verdicts):
        sys.exit(EXIT_UNREADABLE)
    if not all(verdict["ok"] for verdict in verdicts):
        sys.exit(EXIT_DEVIATIONS)


def _verdict(path: Path, mode: Mode, pattern: str) -> dict[str, Any]:
    """What ``validate`` says about one file, as data."""
    verdict: dict[str, Any] = {"file": str(path), "mode": mode.value}
    try:
        result = parse(read_input(path), mode=mode, agency_pattern=pattern)
    except (EdxbusError, click.ClickException) as error:
        message = error.format_message() if isinstance(error, click.ClickException) else str(error)
        verdict.update(
            ok=False,
            error={"reason_code": getattr(error, "reason_code", "unreadable"), "message": message},
        )
        return verdict
    verdict.update(
        ok=not result.deviations,
        kind=result.package.kind,
        document_id=result.package.document_id,
        deviations=[
            {"code": d.code, "path": d.path, "message": d.message} for d in result.deviations
        ],
    )
    return verdict


def _verdict_line(verdict: dict[str, Any]) -> str:
    path = verdict["file"]
    if "error" in verdict:
        return f"{path}: error [{verdict['error']['reason_code']}] {verdict['error']['message']}"
    summary = f"{verdict['kind']} {verdict['document_id'] or '-'}"
    deviations = verdict["deviations"]
    if not deviations:
        return f"{path}: OK ({summary})"
    codes = ", ".join(dict.fromkeys(d["code"] for d in deviations))
    noun = "deviation" if len(deviations) == 1 else "deviations"
    return f"{path}: {len(deviations)} {noun} ({summary}): {codes}"


def _describe(result: ParseResult) -> dict[str, Any]:
    """The JSON view of a parsed package (the contract of ``edx show --json``)."""
    package = result.package
    view: dict[str, Any] = {
        "kind": package.kind,
        "document_id": package.document_id,
        "from": package.sender_code,
        "from_name": package.sender.organ_name,
        "signature": {
            "present": result.signature.present,
            "namespaced": result.signature.namespaced,
            "algorithm": result.signature.algorithm,
            "c14n": result.signature.c14n,
            "digest": result.signature.digest,
        },
        "deviations": [str(d) for d in result.deviations],
        "deviation_codes": list(result.deviation_codes),
    }
    if isinstance(package, DocumentPackage):
        view.update(
            {
                "to": list(package.recipient_codes),
                "code_number": package.code.number,
                "code_notation": package.code.notation,
                "subject": package.subject,
                "promulgation_date": package.promulgation.date,
                "due_date": package.due_date,
                "document_type": package.document_type.type,
                "business_type": package.business.doc_type.label,
                "business_target": package.business.document_id or None,
                "signer": package.signer.full_name,
                "status_code": None,
                "response_for": [r.document_id for r in package.response_for if r.document_id],
                "trace": [
                    {"organ_id": t.organ_id, "timestamp": t.timestamp}
                    for t in package.trace_headers
                ],
                "attachments": [
                    {
                        "name": a.name,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.digest,
                        "zipped": a.is_zipped,
                    }
                    for a in package.attachments
                ],
            }
        )
    else:
        view.update(_status_view(package))
    return view


def _status_view(package: StatusPackage) -> dict[str, Any]:
    return {
        "to": [package.response_for.organ_id] if package.response_for.organ_id else [],
        "code_number": None,
        "code_notation": None,
        "subject": None,
        "promulgation_date": package.response_for.promulgation_date,
        "business_type": None,
        "status_code": package.status_code.value,
        "status_meaning": package.status_code.meaning,
        "description": package.description,
        "timestamp": package.timestamp,
        "response_for": package.response_for.document_id,
        "response_for_code": package.response_for.code,
        "attachments": [],
    }


def _text_view(view: dict[str, Any]) -> str:
    skip = {"signature", "deviations", "deviation_codes", "attachments", "trace"}
    rows = [(key, _plain(value)) for key, value in view.items() if key not in skip]
    signature = view["signature"]
    rows.append(
        (
            "signature",
            "absent"
            if not signature["present"]
            else f"{signature['algorithm'] or '?'}"
            + ("" if signature["namespaced"] else " (not in the XML-DSig namespace)"),
        )
    )
    lines = [table(["field", "value"], rows)]
    if view.get("attachments"):
        lines += [
            "",
            table(
                ["attachment", "content type", "bytes", "sha256"],
                [
                    (a["name"], a["content_type"], a["size"], a["sha256"][:16])
                    for a in view["attachments"]
                ],
            ),
        ]
    if view["deviations"]:
        lines += ["", f"{len(view['deviations'])} deviations:"]
        lines += [f"  - {d}" for d in view["deviations"]]
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--strict", is_flag=True, help="Refuse the file if it departs from the standard.")
@_pattern_option
def show(file: Path, as_json: bool, strict: bool, agency_pattern: str | None) -> None:
    """Show what an EDXML package says: header, attachments, signature, deviations."""
    result = parse(
        read_input(file),
        mode=Mode.STRICT if strict else Mode.TOLERANT,
        limits=Limits(),
        agency_pattern=_pattern(agency_pattern),
    )
    view = _describe(result)
    if as_json:
        echo_json(view)
    else:
        click.echo(_text_view(view))


COMMANDS: list[click.Command] = [validate, show]
