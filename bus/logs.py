"""Structured logs: every line about a document names the document and the agency.

Why: an operator asked "what happened to document X of agency Y" greps one id
across the router, the tracker and the agencies' clients. So the document id and
the agency code must be on *every* line that concerns them, including lines
written deep inside a library while a package is being handled, not only on the
lines where someone remembered to format them into the message.

How: :func:`log_context` binds fields (``document_id=``, ``agency=``, any other)
to the current task through a :class:`~contextvars.ContextVar`; asyncio copies it
into the tasks started inside the block. :func:`get_logger` returns a logger that
adds the bound fields, plus keyword fields given on the call, to each record.
:func:`configure_logging` installs one handler that writes text or JSON lines
(``settings.observability.log_format``) and also stamps the bound fields on records from plain
:mod:`logging` loggers (aiokafka, SQLAlchemy)::

    log = get_logger(__name__)
    with log_context(document_id=doc_id, agency=sender):
        log.info("delivered", recipient=code)
    # 2026-11-23T02:30:00.123Z INFO bus.router: delivered document_id=... agency=... recipient=...
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TextIO

from bus.errors import ConfigError
from bus.settings import Settings

__all__ = [
    "FIELDS_ATTR",
    "ContextLogger",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "bound_fields",
    "configure_logging",
    "get_logger",
    "log_context",
    "record_fields",
]

#: The attribute of a ``LogRecord`` that holds its structured fields.
FIELDS_ATTR: Final = "edx_fields"
# Fields written first, in this order, so the eye finds them at once.
_LEADING_FIELDS: Final = ("document_id", "agency")
# Keyword arguments that ``logging`` itself understands; all others are fields.
_LOGGING_KWARGS: Final = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})
# Marks the handler configure_logging installed, so a second call replaces it.
_HANDLER_MARK: Final = "_edx_handler"

_EMPTY: Mapping[str, object] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("edx_log_context", default=_EMPTY)


class LogFormat(StrEnum):
    """The line formats of ``settings.observability.log_format``."""

    TEXT = "text"  # for people reading a terminal
    JSON = "json"  # one JSON object a line, for log collectors


@contextmanager
def log_context(**fields: object) -> Iterator[Mapping[str, object]]:
    """Bind ``fields`` to every log line written inside the block.

    Nested blocks add to (and may override) the outer fields; ``None`` values are
    left out so callers can pass optional ids unconditionally. Tasks created
    inside the block inherit the fields; the block's end restores the outer ones.
    """
    merged = {**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _CONTEXT.set(MappingProxyType(merged))
    try:
        yield _CONTEXT.get()
    finally:
        _CONTEXT.reset(token)


def bound_fields() -> Mapping[str, object]:
    """The fields bound by the enclosing :func:`log_context` blocks (read-only)."""
    return _CONTEXT.get()


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records carry the bound fields and keyword fields of the call.

    ``log.info("refused", reason_code="replay")`` puts ``reason_code`` beside the
    bound ``document_id`` and ``agency`` on the line.
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        fields = dict(_CONTEXT.get())
        for key in [k for k in kwargs if k not in _LOGGING_KWARGS]:
            value = kwargs.pop(key)
            if value is not None:
                fields[key] = value
        extra = dict(kwargs.get("extra") or {})
        extra[FIELDS_ATTR] = fields
        kwargs["extra"] = extra
        return msg, kwargs


def get_logger(name: str) -> ContextLogger:
    """The structured logger for module ``name`` (pass ``__name__``)."""
    return ContextLogger(logging.getLogger(name))


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields of a record, leading fields first."""
    raw: Mapping[str, object] = getattr(record, FIELDS_ATTR, None) or _CONTEXT.get()
    ordered = {k: raw[k] for k in _LEADING_FIELDS if k in raw}
    ordered.update((k, v) for k, v in raw.items() if k not in ordered)
    return ordered


class _ContextFilter(logging.Filter):
    """Stamps the bound fields on records from loggers that are not ContextLoggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, FIELDS_ATTR):
            setattr(record, FIELDS_ATTR, dict(_CONTEXT.get()))
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message key=value ...`` with UTC times."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, f"{record.name}:", record.getMessage()]
        parts += [f"{k}={_text_value(v)}" for k, v in record_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    settings: Settings,
    *,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to ``stream`` (stderr) in ``settings.observability.log_format``.

    Called once by each entry point (``edx``, ``python -m bus.router``, ...);
    calling it again replaces the handler it installed before, so tests and the
    embedded stack may reconfigure freely. Returns the installed handler.
    """
    try:
        log_format = LogFormat(settings.observability.log_format)
    except ValueError as exc:
        choices = ", ".join(f.value for f in LogFormat)
        raise ConfigError(
            f"log format {settings.observability.log_format!r} is not one of: {choices}"
        ) from exc
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(TextFormatter() if log_format is LogFormat.TEXT else JsonFormatter())
    handler.addFilter(_ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # The Kafka client narrates every rebalance at INFO; its warnings are what matter.
    if logging.getLevelName(root.level) != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return handler
