"""The log's own settings, read from ``EDX_LOG_*`` and ``EDX_TSA_URL`` beside the bus's.

A small frozen object next to :class:`bus.settings.Settings` (whose ``home`` and
``pki`` it derives its defaults from), so the log is configured the same way as
every other service without widening the shared settings object.

| variable | default | meaning |
|---|---|---|
| ``EDX_LOG_DB_URL`` | ``sqlite:///$EDX_HOME/log.db`` | the log's database |
| ``EDX_LOG_ORIGIN`` | ``edxbus.local/log`` | the checkpoints' origin line and the key's name |
| ``EDX_LOG_TOPIC`` | ``edx.checkpoints`` | the compacted topic checkpoints are published on |
| ``EDX_LOG_CHECKPOINT_SECONDS`` | ``5`` | how often a grown tree gets a new checkpoint |
| ``EDX_TSA_URL`` | (unset: the embedded dev TSA) | the RFC 3161 time-stamping authority |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bus.errors import ConfigError
from bus.settings import Settings

__all__ = ["LogSettings"]


@dataclass(frozen=True)
class LogSettings:
    """Where the log keeps its leaves, what it calls itself, how often it checkpoints."""

    db_url: str
    origin: str = "edxbus.local/log"
    topic: str = "edx.checkpoints"
    checkpoint_seconds: float = 5.0
    tsa_url: str | None = None
    batch_size: int = 2000
    #: After a batch's first events arrive, how long to go on gathering more before
    #: appending them (:func:`bus.kafka.gather_records`): one store transaction for
    #: many leaves, not one for each few events a router emits.
    gather_seconds: float = 0.1

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> LogSettings:
        """The log settings for ``settings``, with ``EDX_LOG_*``/``EDX_TSA_URL`` applied."""
        env = os.environ if environ is None else environ
        default = cls(db_url=f"sqlite:///{settings.home / 'log.db'}")
        try:
            seconds = float(env.get("EDX_LOG_CHECKPOINT_SECONDS") or default.checkpoint_seconds)
        except ValueError as error:
            raise ConfigError(f"EDX_LOG_CHECKPOINT_SECONDS is not a number: {error}") from error
        if seconds <= 0:
            raise ConfigError("EDX_LOG_CHECKPOINT_SECONDS must be positive")
        return cls(
            db_url=env.get("EDX_LOG_DB_URL") or default.db_url,
            origin=env.get("EDX_LOG_ORIGIN") or default.origin,
            topic=env.get("EDX_LOG_TOPIC") or default.topic,
            checkpoint_seconds=seconds,
            tsa_url=env.get("EDX_TSA_URL") or None,
        )
