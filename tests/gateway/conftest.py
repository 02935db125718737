"""Fixtures of the gateway tests: the exchange fixtures (broker, PKI, router) reused."""

from tests.agency_client.helpers import (  # noqa: F401  (fixtures, found by name)
    agency_pki,
    exchange_settings,
    inbox_topics,
    live_bus,
)
