"""The shipped QCVN 102 schemas, loaded once with importlib.resources."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from lxml import etree

__all__ = ["schema_problems"]

_FILES = {"document": "qcvn102-document.xsd", "status": "qcvn102-status.xsd"}
_LOCK = threading.Lock()


@cache
def _schema(kind: Literal["document", "status"]) -> etree.XMLSchema:
    folder = resources.files("edxml") / "schemas"
    with resources.as_file(folder) as path:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        document = etree.parse(str(path / _FILES[kind]), parser)
        return etree.XMLSchema(document)


def schema_problems(root: etree._Element, kind: Literal["document", "status"]) -> list[str]:
    """Every violation of the schema for ``kind``, as one line each; empty when valid."""
    schema = _schema(kind)
    with _LOCK:  # an XMLSchema object keeps its error log: one validation at a time
        if schema.validate(root):
            return []
        return [
            f"line {entry.line}: {entry.message.replace('{' + _NS + '}', '')}"
            for entry in cast(Iterable[Any], schema.error_log)
        ]


_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
