"""The SDK for agencies' office software: send, receive and report on documents."""

from edxml.errors import ClientError

__all__ = ["ClientError"]
