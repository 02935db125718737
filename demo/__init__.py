"""The ``edx demo`` application: a four-level agency tree exchanging signed documents.

It plays a scenario (``scenario.toml``: agencies, documents, answers) on a running
bus through the SDK, one :class:`~agency_client.AgencyClient` per agency, issuing
dev keys and reading the tracker's database to know when the exchange is
recorded. That makes it an application at the edge, beside ``cli``: the SDK
does not carry it.
"""

from demo.errors import DemoTimeoutError, ScenarioError
from demo.exchange import DemoDocument, DemoResult, register_agencies, run_demo
from demo.scenario import DemoAgency, Scenario, ScenarioDocument, load_scenario

__all__ = [
    "DemoAgency",
    "DemoDocument",
    "DemoResult",
    "DemoTimeoutError",
    "Scenario",
    "ScenarioDocument",
    "ScenarioError",
    "load_scenario",
    "register_agencies",
    "run_demo",
]
