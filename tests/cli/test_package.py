"""edx validate / edx show, through the real click group (cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import edxml
from cli.main import cli
from tests.edxml.helpers import WHEN, make_package

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.edxml"
    path.write_bytes(
        edxml.build(make_package(attachments=[edxml.Attachment.from_bytes("a.pdf", b"%PDF")]))
    )
    return path


@pytest.fixture
def status_file(tmp_path: Path) -> Path:
    path = tmp_path / "status.edxml"
    status = edxml.new_status(
        "000.00.00.H41", make_package(), edxml.StatusCode.REFUSED, "Sai thể thức", timestamp=WHEN
    )
    path.write_bytes(edxml.build(status))
    return path


def test_validate_ok(runner: CliRunner, good_file: Path, status_file: Path) -> None:
    result = runner.invoke(cli, ["validate", "--strict", str(good_file), str(status_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{good_file}: OK")
    assert lines[1].startswith(f"{status_file}: OK")


def test_validate_samples_tolerant_lists_deviations(runner: CliRunner, samples_dir: Path) -> None:
    path = samples_dir / "vxp-sdk" / "edoc_new.edxml"
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "stray-bytes-before-xml" in result.output
    assert "Traceback" not in result.output


def test_validate_strict_one_line_per_file(
    runner: CliRunner, good_file: Path, samples_dir: Path
) -> None:
    files = [good_file, *sorted((samples_dir / "vxp-sdk").glob("status_*.edxml"))]
    result = runner.invoke(cli, ["validate", "--strict", *map(str, files)])
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert len(lines) == len(files)
    assert "OK" in lines[0]
    assert all("error [schema-violation]" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("billion-laughs.edxml", "forbidden-dtd"),
        ("xxe-external-entity.edxml", "forbidden-dtd"),
        ("not-xml.edxml", "malformed-xml"),
        ("wrong-namespace.edxml", "not-edxml"),
        ("duplicate-content-ids.edxml", "duplicate-content-id"),
    ],
)
def test_validate_hostile_files(runner: CliRunner, name: str, reason: str) -> None:
    result = runner.invoke(cli, ["validate", "--strict", str(HOSTILE / name)])
    assert result.exit_code == 3
    assert f"[{reason}]" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.splitlines()) == 1


def test_validate_missing_file(runner: CliRunner, tmp_path: Path, good_file: Path) -> None:
    result = runner.invoke(cli, ["validate", str(tmp_path / "nope.edxml"), str(good_file)])
    assert result.exit_code == 3
    assert "cannot read" in result.output
    assert f"{good_file}: OK" in result.output


def test_validate_exit_codes_tell_deviations_from_unreadable(
    runner: CliRunner, good_file: Path, samples_dir: Path
) -> None:
    """1: everything reads, something deviates; 3: something cannot be read (3 wins)."""
    deviating = samples_dir / "vxp-sdk" / "edoc_new.edxml"
    unreadable = HOSTILE / "not-xml.edxml"
    assert runner.invoke(cli, ["validate", str(good_file)]).exit_code == 0
    assert runner.invoke(cli, ["validate", str(good_file), str(deviating)]).exit_code == 1
    assert runner.invoke(cli, ["validate", str(good_file), str(unreadable)]).exit_code == 3
    both = runner.invoke(cli, ["validate", str(deviating), str(unreadable)])
    assert both.exit_code == 3
    assert len(both.output.splitlines()) == 2


def test_validate_agency_pattern_option(runner: CliRunner, samples_dir: Path) -> None:
    path = samples_dir / "gateway" / "unsigned-three-attachments.edxml"
    plain = runner.invoke(cli, ["validate", str(path)])
    assert "invalid-agency-code" in plain.output
    custom = runner.invoke(cli, ["validate", "--agency-pattern", r"^vxp\.saas\.\d{2}$", str(path)])
    assert "invalid-agency-code" not in custom.output


def test_show_json_document(runner: CliRunner, good_file: Path) -> None:
    result = runner.invoke(cli, ["show", str(good_file), "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert view["kind"] == "document"
    assert view["document_id"] == "000.00.00.G22,2026/03/02,15/VPCP-TH"
    assert view["from"] == "000.00.00.G22"
    assert view["to"] == ["000.00.00.H41", "000.00.24.H44"]
    assert view["code_number"] == "15"
    assert view["code_notation"] == "VPCP-TH"
    assert view["subject"] == "Về việc triển khai trục liên thông văn bản"
    assert view["promulgation_date"] == "2026-03-02"
    assert view["business_type"] == "new"
    assert view["status_code"] is None
    assert view["attachments"] == [
        {
            "name": "a.pdf",
            "content_type": "application/pdf",
            "size": 4,
            "sha256": edxml.package_digest(b"%PDF"),
            "zipped": False,
        }
    ]
    assert view["signature"]["present"] is False
    assert view["signature"]["algorithm"] is None
    assert view["deviations"] == []


def test_show_json_status(runner: CliRunner, status_file: Path) -> None:
    view = json.loads(runner.invoke(cli, ["show", "--json", str(status_file)]).output)
    assert view["kind"] == "status"
    assert view["status_code"] == "02"
    assert view["response_for"] == "000.00.00.G22,2026/03/02,15/VPCP-TH"
    assert view["from"] == "000.00.00.H41"
    assert view["attachments"] == []


def test_show_json_sample_with_signature(runner: CliRunner, samples_dir: Path) -> None:
    path = samples_dir / "vxp-sdk" / "edoc_update.edxml"
    view = json.loads(runner.invoke(cli, ["show", "--json", str(path)]).output)
    assert view["business_type"] == "update"
    assert view["signature"] == {
        "present": True,
        "namespaced": False,
        "algorithm": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "c14n": "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "digest": "http://www.w3.org/2000/09/xmldsig#sha1",
    }
    assert any(d.startswith("signature-without-namespace") for d in view["deviations"])
    assert view["attachments"][0]["size"] > 0


def test_show_text(runner: CliRunner, good_file: Path) -> None:
    result = runner.invoke(cli, ["show", str(good_file)])
    assert result.exit_code == 0
    assert "Về việc triển khai" in result.output
    assert "a.pdf" in result.output


def test_show_error_is_one_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["show", str(HOSTILE / "billion-laughs.edxml")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: a DOCTYPE (DTD) is not allowed in EDXML [forbidden-dtd]"
    ]


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.edxml")), ids=lambda p: p.name)
def test_no_hostile_file_reaches_a_clerk_as_a_traceback(runner: CliRunner, path: Path) -> None:
    validated = runner.invoke(cli, ["validate", "--strict", str(path)])
    assert validated.exit_code in (0, 3)
    assert len(validated.output.splitlines()) == 1
    shown = runner.invoke(cli, ["show", str(path)])
    for output in (validated.output, shown.output):
        assert "Traceback" not in output
        assert "internal error" not in output


def test_validate_json(runner: CliRunner, good_file: Path, samples_dir: Path) -> None:
    sample = samples_dir / "vxp-sdk" / "edoc_new.edxml"
    hostile = HOSTILE / "billion-laughs.edxml"
    result = runner.invoke(cli, ["validate", "--json", str(good_file), str(sample), str(hostile)])
    assert result.exit_code == 3
    good, field, refused = json.loads(result.output)
    assert good["ok"] is True
    assert good["kind"] == "document"
    assert good["deviations"] == []
    assert field["ok"] is False
    assert {
        "code": "stray-bytes-before-xml",
        "path": "",
        "message": field["deviations"][0]["message"],
    } in field["deviations"]
    assert refused["ok"] is False
    assert refused["error"]["reason_code"] == "forbidden-dtd"
