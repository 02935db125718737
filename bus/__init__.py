"""The transport: topics, events, the router and tracker services, the broker launcher."""

from bus.errors import BusError
from bus.settings import Settings, TopicNames, load_settings

__all__ = ["BusError", "Settings", "TopicNames", "load_settings"]
