"""The bus on one machine: the embedded broker and the whole stack of ``edx up``.

:mod:`bus.embedded.broker` launches a local Tansu process (the broker of the
embedded default and of the tests); :mod:`bus.embedded.stack` runs broker, topics,
router, tracker and log in one process and tells other commands where it runs.
"""

from bus.embedded.broker import EmbeddedBroker, find_broker_binary, free_port
from bus.embedded.stack import (
    DIRECTORY_SNAPSHOT,
    RUNTIME_FILE,
    EmbeddedStack,
    ensure_dev_pki,
    running_bus,
)

__all__ = [
    "DIRECTORY_SNAPSHOT",
    "RUNTIME_FILE",
    "EmbeddedBroker",
    "EmbeddedStack",
    "ensure_dev_pki",
    "find_broker_binary",
    "free_port",
    "running_bus",
]
