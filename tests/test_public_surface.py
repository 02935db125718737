"""The packages' public surfaces: each package is used through its ``__init__`` only.

STYLE: a package's public API is what its ``__init__.py`` exports in ``__all__``;
other packages import only that. The error modules are the one exception: the
exception tree is drawn in ``edxml/errors.py`` and each layer's branch lives in its
own ``errors`` module, which other layers may import by name.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edxml", "signing", "bus", "agency_client", "gateway", "cli")


def _cross_package_imports() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                parts = node.module.split(".")
                foreign = parts[0] in PACKAGES and parts[0] != package
                if foreign and len(parts) > 1 and parts[1] != "errors":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    return found


def test_packages_import_each_other_only_through_init() -> None:
    assert _cross_package_imports() == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} has no __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []
    assert len(set(exported)) == len(exported)
