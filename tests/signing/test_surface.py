"""The public surface of ``signing``: what other layers may import, and the error branch."""

from __future__ import annotations

import inspect

import signing
import signing.errors
from edxml.errors import EdxbusError, SigningError


def test_every_exported_name_exists() -> None:
    for name in signing.__all__:
        assert hasattr(signing, name), name
    assert sorted(signing.__all__) == signing.__all__


def test_the_names_other_layers_rely_on() -> None:
    for name in (
        "Signer",
        "SignatureAlgorithm",
        "Verifier",
        "VerifiedPackage",
        "VerificationPolicy",
        "TrustStore",
        "DevPki",
        "certificate_fingerprint",
        "agency_code_of",
    ):
        assert name in signing.__all__, name
    assert signing.SignatureAlgorithm.RSA_SHA256.short_name == "rsa-sha256"
    policy = signing.VerificationPolicy()
    assert not policy.allow_sha1
    assert policy.check_revocation
    assert policy.require_sender_binding


def test_error_leaves_sit_under_signing_error_with_unique_reason_codes() -> None:
    leaves = [
        cls
        for _, cls in inspect.getmembers(signing.errors, inspect.isclass)
        if issubclass(cls, EdxbusError) and cls is not SigningError
    ]
    assert len(leaves) >= 19
    codes = [cls.reason_code for cls in leaves]
    assert len(set(codes)) == len(codes)
    for cls in leaves:
        assert issubclass(cls, SigningError), cls
        assert cls.reason_code.replace("-", "").isalnum(), cls
        assert cls.__name__ in signing.errors.__doc__, f"{cls.__name__} missing from the tree"
        assert cls.__name__ in signing.__all__, cls
