"""The agency gateway: office software in any language sends and receives over HTTP.

It speaks the national hub's protocol at ``/vxp`` (so the hub's own SDK works
unchanged) and acts for the agencies of registered systems: it signs for them with
their keys (custody), keeps what they send in durable outboxes until every 01 is
back, and stores what their agencies receive until the systems confirm it. See
docs/GATEWAY.md.
"""

from gateway.app import GatewayParts, create_app, serve, serving
from gateway.config import GatewayConfig
from gateway.custody import Custody, CustodyResult
from gateway.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GatewayError,
    NotFoundError,
    NotPermittedError,
    NotSupportedError,
    PackageRefusedError,
    RateLimitedError,
    ReplayedRequestError,
    StaleRequestError,
    UnavailableError,
    UploadTooLargeError,
)
from gateway.model import Accepted, Delivery, InboxEntry, TransportState
from gateway.service import Gateway
from gateway.store import open_gateway_engine
from gateway.systems import System, SystemRegistry
from gateway.vxp import sdk_hash_file
from gateway.vxp_auth import SignedParameters, authenticate, sign_parameters

__all__ = [
    "Accepted",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Custody",
    "CustodyResult",
    "Delivery",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "GatewayParts",
    "InboxEntry",
    "NotFoundError",
    "NotPermittedError",
    "NotSupportedError",
    "PackageRefusedError",
    "RateLimitedError",
    "ReplayedRequestError",
    "SignedParameters",
    "StaleRequestError",
    "System",
    "SystemRegistry",
    "TransportState",
    "UnavailableError",
    "UploadTooLargeError",
    "authenticate",
    "create_app",
    "open_gateway_engine",
    "sdk_hash_file",
    "serve",
    "serving",
    "sign_parameters",
]
