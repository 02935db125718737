"""The gateway's database: schema, migrations and engine."""

from gateway.store.engine import open_gateway_engine, upgrade

__all__ = ["open_gateway_engine", "upgrade"]
