"""Placement of agency codes in the four-level tree, and database errors by name."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bus.errors import DatabaseError, DatabaseUnavailableError
from bus.store import create_store_engine, document_status, place, upgrade


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("000.00.00.H41", 1, None),
        ("000.00.24.H44", 2, "000.00.00.H44"),
        ("000.46.24.H44", 3, "000.00.24.H44"),
        ("002.00.20.H13", 4, "000.00.20.H13"),
        ("001.46.24.H44", 4, "000.46.24.H44"),
    ],
)
def test_level_and_parent_follow_from_the_code(code: str, level: int, parent: str | None) -> None:
    placement = place(code)
    assert placement is not None
    assert (placement.level, placement.parent) == (level, parent)


def test_subtree_membership() -> None:
    district, commune, other = (
        place(c) for c in ("000.00.24.H44", "000.46.24.H44", "000.46.25.H44")
    )
    assert district is not None
    assert commune is not None
    assert other is not None
    assert district.contains(commune)
    assert district.contains(district)
    assert not district.contains(other)
    assert not commune.contains(district)


@pytest.mark.parametrize("code", ["vxp.saas.03", "28.22.H17", "", "000.00.00.h41"])
def test_codes_outside_the_pattern_have_no_placement(code: str) -> None:
    assert place(code) is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.postgres
def test_an_unreachable_server_is_a_retriable_named_error() -> None:
    engine = create_store_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x")
    try:
        with pytest.raises(DatabaseUnavailableError) as caught:
            document_status(engine, "any")
        assert caught.value.retriable
        assert "unreachable" in str(caught.value)
    finally:
        engine.dispose()


def test_a_missing_sqlite_file_is_not_created_by_a_query(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError):
        create_store_engine(f"sqlite:///{tmp_path / 'absent.db'}", must_exist=True)
    assert not (tmp_path / "absent.db").exists()


def test_unsupported_backends_are_refused() -> None:
    with pytest.raises(DatabaseError):
        create_store_engine("mysql://x@localhost/db")
    with pytest.raises(DatabaseError):
        upgrade("not a url")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    upgrade(url)
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_concurrent_first_migrations_of_one_sqlite_file_do_not_race(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    code = f"from bus.store import upgrade; upgrade({url!r})"
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(3)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()
