"""Systems in the gateway's database: deny by default, changes seen at once, secrets private."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    SystemRegistry,
    open_gateway_engine,
)


@pytest.fixture
def registry(db_url: str) -> Iterator[SystemRegistry]:
    engine = open_gateway_engine(db_url)
    yield SystemRegistry(engine)
    engine.dispose()


def test_add_list_rotate_remove(registry: SystemRegistry) -> None:
    before = registry.version()
    registry.add("vp.tinh", ["000.00.00.H44", "000.01.00.H44"], "secret-one")
    assert registry.version() > before
    system = registry.get("vp.tinh")
    assert system is not None
    assert system.serves("000.01.00.H44")
    assert not system.serves("000.00.24.H44")
    assert not system.may_register
    assert registry.secret_of("vp.tinh") == "secret-one"
    assert registry.served_agencies() == {"000.00.00.H44", "000.01.00.H44"}
    registry.rotate("vp.tinh", "secret-two")
    assert registry.secret_of("vp.tinh") == "secret-two"
    with pytest.raises(ConflictError, match="already registered"):
        registry.add("vp.tinh", ["000.00.00.H44"], "secret-one")
    registry.remove("vp.tinh")
    assert registry.get("vp.tinh") is None
    assert registry.secret_of("vp.tinh") is None
    with pytest.raises(NotFoundError, match=r"no system vp\.tinh"):
        registry.rotate("vp.tinh", "secret-three")


def test_bad_systems_are_refused_with_their_reason(registry: SystemRegistry) -> None:
    with pytest.raises(BadRequestError, match="at least one agency"):
        registry.add("vp.x", [], "secret-one")
    with pytest.raises(BadRequestError, match="at least 8"):
        registry.add("vp.x", ["000.00.00.H44"], "short")
    with pytest.raises(BadRequestError, match="spaces"):
        registry.add("vp x", ["000.00.00.H44"], "secret-one")


def test_a_system_never_shows_its_secret(registry: SystemRegistry) -> None:
    registry.add("vp.tinh", ["000.00.00.H44"], "secret-never-shown")
    assert "secret-never-shown" not in repr(registry.all())


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "gw" / "gateway.db"
    engine = open_gateway_engine(f"sqlite:///{path}")
    SystemRegistry(engine).add("vp.tinh", ["000.00.00.H44"], "secret-one")
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
